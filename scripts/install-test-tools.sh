#!/usr/bin/env bash
# Installs the real NBD clients the integration tests drive (tests/Blkmq.Integration.Tests), when missing:
# nbdkit (peer server for bench/peer/nbd.sh), nbdinfo / nbdcopy (libnbd-bin), nbdsh (python3-libnbd),
# qemu-img / qemu-io (qemu-utils), fio (with its nbd engine), certtool (gnutls-bin) and openssl (TLS tests make
# certificates with both, as users do, and in-process), nbdfuse + fusermount3 (fuse3), losetup / mount (mount) and
# mkfs.ext4 / e2fsck (e2fsprogs) for ext4 on a loop device over nbdfuse. Debian/Ubuntu only; needs root or sudo.
set -euo pipefail

declare -A tool_package=(
  [nbdkit]=nbdkit
  [nbdinfo]=libnbd-bin
  [nbdcopy]=libnbd-bin
  [nbdsh]=python3-libnbd
  [qemu-img]=qemu-utils
  [qemu-io]=qemu-utils
  [fio]=fio
  [certtool]=gnutls-bin
  [openssl]=openssl
  [nbdfuse]=nbdfuse
  [fusermount3]=fuse3
  [losetup]=mount
  [mount]=mount
  [mkfs.ext4]=e2fsprogs
  [e2fsck]=e2fsprogs
  [debugfs]=e2fsprogs
  [sqlite3]=sqlite3
)

missing=()
for tool in "${!tool_package[@]}"; do
  # Look in the system directories: nbdsh needs Debian's python3, not one from pyenv or a venv.
  if ! PATH="/usr/bin:/bin:/usr/sbin:/sbin:$PATH" command -v "$tool" >/dev/null 2>&1; then
    missing+=("${tool_package[$tool]}")
  fi
done

# nbdsh exists but the Python module may not (python3-libnbd is what provides it).
if PATH="/usr/bin:/bin:$PATH" command -v nbdsh >/dev/null 2>&1 && ! /usr/bin/python3 -c 'import nbd' >/dev/null 2>&1; then
  missing+=(python3-libnbd)
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-test-tools: all test tools present"
  exit 0
fi

# Unique package names, stable order.
mapfile -t packages < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "install-test-tools: installing ${packages[*]}"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${packages[@]}"

# fio's nbd engine needs a fio built with libnbd (Debian's is); say so when it is not.
if ! fio --enghelp=nbd 2>/dev/null | grep -q uri; then
  echo "install-test-tools: warning: this fio has no nbd engine; FioTests will skip (fail under CI=true)" >&2
fi
echo "install-test-tools: done"
