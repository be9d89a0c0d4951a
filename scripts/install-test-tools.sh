#!/usr/bin/env bash
# Installs the real NBD clients the integration tests drive (tests/Blkmq.Integration.Tests), when missing:
# nbdkit (peer server for bench/peer/nbd.sh), nbdinfo / nbdcopy (libnbd-bin), nbdsh (python3-libnbd),
# qemu-img / qemu-io (qemu-utils), fio (with its nbd engine), certtool (gnutls-bin) and openssl (TLS tests make
# certificates with both, as users do, and in-process), nbdfuse + fusermount3 (fuse3), losetup / mount (mount) and
# mkfs.ext4 / e2fsck (e2fsprogs) for ext4 on a loop device over nbdfuse; afl-fuzz (afl++) and the dotnet tool sharpfuzz
# (SharpFuzz.CommandLine) for scripts/fuzz.sh; Ceph (ceph-mon, ceph-osd, ceph-mgr, ceph-common: rbd, librbd1,
# librados2) for the RBD driver's tests and qemu-block-extra (qemu's rbd driver) for bench/peer/rbd.sh.
# Debian/Ubuntu only; needs root or sudo.
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
  [afl-fuzz]=afl++
  # The RBD driver's tests (scripts/ceph-cluster.sh): a one-node cluster, the rbd tool, librbd1/librados2.
  [ceph-mon]=ceph-mon
  [ceph-osd]=ceph-osd
  [ceph-mgr]=ceph-mgr
  [ceph]=ceph-common
  [rbd]=ceph-common
  [qemu-nbd]=qemu-utils
  # scripts/crashtest.sh: debugfs reads files out of replayed images, sqlite3 runs the database workload.
  [debugfs]=e2fsprogs
  [sqlite3]=sqlite3
  # The partition filter's test lays out MBR tables (logical partitions too) with parted.
  [parted]=parted
)

# sharpfuzz instruments assemblies for afl-fuzz (scripts/fuzz.sh); a dotnet tool, not a Debian package.
if ! PATH="$PATH:$HOME/.dotnet/tools" command -v sharpfuzz >/dev/null 2>&1; then
  echo "install-test-tools: installing the dotnet tool SharpFuzz.CommandLine"
  dotnet tool install --global SharpFuzz.CommandLine --version 2.3.0 >/dev/null || echo "install-test-tools: warning: sharpfuzz could not be installed; the fuzz step will fail under CI=true" >&2
fi

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

# qemu's rbd block driver (bench/peer/rbd.sh runs qemu-nbd on an RBD image).
if ! ls /usr/lib/*/qemu/block-rbd.so >/dev/null 2>&1; then
  missing+=(qemu-block-extra)
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
