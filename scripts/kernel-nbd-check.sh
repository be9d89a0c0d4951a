#!/usr/bin/env bash
# Checks that the Linux kernel's own NBD client (nbd-client + the nbd module, a real /dev/nbd0) works against
# `blkmq serve`, with a real ext4 file system on it. The development machine's kernel has no nbd module, so the
# check runs inside the throwaway QEMU guest of ../shared/kvm-guest (its README describes it): the guest boots a
# Debian kernel with the host's / as its root, so it sees this checkout and the CLI published here.
#
#   scripts/kernel-nbd-check.sh
#
# Steps (each prints PASS/FAIL; the script exits non-zero on the first failure):
#   on the host:  install missing packages (qemu-system-x86, busybox-static, nbd-client, e2fsprogs, kmod, cpio),
#                 fetch the guest kernel when there is none, publish src/Blkmq.Cli in Release to a temporary folder;
#   in the guest: blkmq serve --export disk=memory:size=256M on 127.0.0.1 (port picked by the server, read from
#                 its URI line), modprobe nbd, nbd-client -N disk, size = 256 MiB, 8 MiB written and read back
#                 with O_DIRECT, mkfs.ext4, mount, 4 MiB random file + sha256, umount, fsck.ext4 -fn clean,
#                 mount again and verify the sha256, umount, nbd-client -d, SIGTERM to the server's pid: exit 0.
# The server's stdout/stderr and the guest's dmesg are written to a folder shared with the host (-w) and shown
# (last lines) on failure.
#
# Environment:
#   KVM_GUEST_DIR             the kvm-guest folder (default: <repo>/../shared/kvm-guest)
#   KVM_GUEST_CACHE           its cache (default /tmp/kvm-guest-cache), as run-in-guest.sh uses it
#   KERNEL_NBD_CHECK_TIMEOUT  seconds before the guest is killed (default 600; the guest runs .NET 20-30x slower)
#   KERNEL_NBD_CHECK_KEEP=1   keep the temporary folder (published CLI, server log, dmesg)
#   BLKMQ_GUEST_PUB           a folder where scripts/publish-guest-cli.sh published the CLI: used instead of publishing
#                             (publish-guest-cli.sh links to it)
set -euo pipefail

# ------------------------------------------------------------------------------------------------------------
# Guest side: run by run-in-guest.sh as `kernel-nbd-check.sh --in-guest`, as root, with BLKMQ_PUB (published
# CLI) and BLKMQ_OUT (folder shared with the host) in the environment.
# ------------------------------------------------------------------------------------------------------------
if [ "${1:-}" = --in-guest ]; then
  set +e
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
  out=$BLKMQ_OUT
  dev=/dev/nbd0
  mnt=/mnt/blkmq-nbd
  size=268435456
  spid= connected= mounted= ok=
  t0=$(date +%s.%N)

  elapsed() { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%6.1fs", b - a }'; }
  pass() { echo "[$(elapsed)] PASS: $*"; }
  fail() { echo "[$(elapsed)] FAIL: $*"; exit 1; }
  # step NAME COMMAND...: runs COMMAND, shows its output (indented) only when it fails.
  step() {
    local name=$1 output
    shift
    if output=$("$@" 2>&1); then pass "$name"; else
      [ -z "$output" ] || printf '%s\n' "$output" | tail -20 | sed 's/^/    /'
      fail "$name"
    fi
  }

  cleanup() {
    local rc=$?
    [ -z "$mounted" ] || umount "$mnt" 2>/dev/null
    [ -z "$connected" ] || nbd-client -d "$dev" >/dev/null 2>&1
    if [ -n "$spid" ] && kill -0 "$spid" 2>/dev/null; then
      kill -TERM "$spid" 2>/dev/null
      for _ in $(seq 100); do kill -0 "$spid" 2>/dev/null || break; sleep 0.2; done
      kill -0 "$spid" 2>/dev/null && { echo "server (pid $spid) still running after SIGTERM: SIGKILL"; kill -KILL "$spid"; }
      wait "$spid" 2>/dev/null
    fi
    dmesg > "$out/dmesg.txt" 2>&1
    local nbdlines
    nbdlines=$(grep -E 'nbd|EXT4-fs|I/O error|blk_update|[Ss]tuck|timed out|WARNING|BUG:|Call Trace' "$out/dmesg.txt")
    if [ -n "$nbdlines" ]; then
      echo "---- guest dmesg (nbd/ext4/block lines)"
      printf '%s\n' "$nbdlines" | tail -40
    fi
    [ -n "$ok" ] || [ "$rc" -ne 0 ] || rc=1
    exit "$rc"
  }
  trap cleanup EXIT

  echo "guest: kernel $(uname -r), $(nproc) CPU(s), nbd-client $(nbd-client -V 2>&1 | grep -oE '[0-9]+\.[0-9.]+' | head -1)"

  # Port 0: the server binds a free port itself (no window in which another program could take it) and
  # prints it in its URI line, nbd://127.0.0.1:PORT/disk.
  "$BLKMQ_PUB/blkmq" serve --export disk=memory:size=256M --listen 127.0.0.1:0 \
    > "$out/server.out" 2> "$out/server.log" &
  spid=$!
  uri=
  for _ in $(seq 1200); do # up to 240 s: .NET starts slowly under TCG
    uri=$(grep -m1 '^nbd://' "$out/server.out" 2>/dev/null)
    [ -n "$uri" ] && break
    kill -0 "$spid" 2>/dev/null || break
    sleep 0.2
  done
  if [ -z "$uri" ]; then
    kill -0 "$spid" 2>/dev/null || { wait "$spid"; echo "    server exited with status $? before printing its URI"; }
    fail "server start (no URI line)"
  fi
  port=$(printf '%s\n' "$uri" | sed -n 's#^nbd://127\.0\.0\.1:\([0-9][0-9]*\)/disk$#\1#p')
  [ -n "$port" ] || fail "server start (unexpected URI line '$uri')"
  pass "server start: pid $spid, $uri"

  step "modprobe nbd" modprobe nbd
  [ -b "$dev" ] || fail "modprobe nbd ($dev missing)"

  [ ! -e /sys/block/nbd0/pid ] || fail "$dev is already connected (pid $(cat /sys/block/nbd0/pid)); not touching it"
  # nbd-client 3.2x: HOST [PORT] DEVICE, -N NAME selects the export (newstyle NBD_OPT_GO / EXPORT_NAME).
  connected=1
  step "nbd-client 127.0.0.1 $port $dev -N disk" nbd-client 127.0.0.1 "$port" "$dev" -N disk
  got=
  for _ in $(seq 50); do
    got=$(blockdev --getsize64 "$dev" 2>/dev/null)
    [ "$got" = "$size" ] && break
    sleep 0.2
  done
  [ "$got" = "$size" ] && pass "size: blockdev --getsize64 $dev = $got" || fail "size: blockdev --getsize64 $dev = '$got', expected $size"

  # Direct IO (before mkfs): 8 MiB of random data written with O_DIRECT, read back with O_DIRECT, compared.
  step "dd 8 MiB from /dev/urandom" dd if=/dev/urandom of=/run/x bs=1M count=8 iflag=fullblock status=none
  step "dd oflag=direct -> $dev" dd if=/run/x of="$dev" bs=1M oflag=direct status=none
  step "dd iflag=direct <- $dev" dd if="$dev" of=/run/y bs=1M count=8 iflag=direct status=none
  step "cmp direct-IO data (8 MiB)" cmp /run/x /run/y

  step "mkfs.ext4 -q $dev" mkfs.ext4 -q "$dev"
  mkdir -p "$mnt"
  step "mount $dev" mount "$dev" "$mnt"
  mounted=1
  step "write 4 MiB random file" dd if=/dev/urandom of="$mnt/random.bin" bs=1M count=4 iflag=fullblock status=none
  sum=$(cd "$mnt" && sha256sum random.bin)
  printf '%s\n' "$sum" > "$mnt/random.bin.sha256"
  echo "    sha256 written: $sum"
  step "sync" sync
  step "umount" umount "$mnt"
  mounted=
  fsck_out=$(fsck.ext4 -fn "$dev" 2>&1)
  fsck_rc=$?
  printf '%s\n' "$fsck_out" | sed 's/^/    /'
  [ "$fsck_rc" -eq 0 ] && pass "fsck.ext4 -fn $dev: clean (exit 0)" || fail "fsck.ext4 -fn $dev: exit $fsck_rc"
  step "mount again" mount "$dev" "$mnt"
  mounted=1
  again=$(cd "$mnt" && sha256sum random.bin)
  echo "    sha256 read:    $again"
  [ "$again" = "$sum" ] && (cd "$mnt" && sha256sum -c --quiet random.bin.sha256) \
    && pass "sha256 matches after remount" || fail "sha256 differs after remount"
  step "umount" umount "$mnt"
  mounted=
  step "nbd-client -d $dev" nbd-client -d "$dev"
  connected=

  kill -TERM "$spid"
  for _ in $(seq 150); do kill -0 "$spid" 2>/dev/null || break; sleep 0.2; done # up to 30 s
  if kill -0 "$spid" 2>/dev/null; then
    fail "server stop: still running 30 s after SIGTERM (the cleanup sends SIGKILL)"
  fi
  wait "$spid"
  src=$?
  spid=
  [ "$src" -eq 0 ] && pass "server stop: SIGTERM -> exit 0" || fail "server stop: SIGTERM -> exit $src"
  ok=1
  echo "[$(elapsed)] guest: all steps passed"
  exit 0
fi

# ------------------------------------------------------------------------------------------------------------
# Host side.
# ------------------------------------------------------------------------------------------------------------
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
self="$root/scripts/$(basename "${BASH_SOURCE[0]}")"
if [ -z "${KVM_GUEST_DIR:-}" ]; then
  # Beside the checkout (the development layout), else the shared folder of these machines.
  KVM_GUEST_DIR=$root/../shared/kvm-guest
  [ -x "$KVM_GUEST_DIR/run-in-guest.sh" ] || KVM_GUEST_DIR=/work/shared/kvm-guest
fi
if [ ! -x "$KVM_GUEST_DIR/run-in-guest.sh" ]; then
  echo "kernel-nbd-check: no kvm-guest folder at '$KVM_GUEST_DIR' (run-in-guest.sh missing); set KVM_GUEST_DIR" >&2
  exit 2
fi
KVM_GUEST_DIR=$(cd "$KVM_GUEST_DIR" && pwd)
cache=${KVM_GUEST_CACHE:-/tmp/kvm-guest-cache}
start=$(date +%s)
say() { echo "kernel-nbd-check: $*"; }

# Packages. Tools are looked up in the system directories too (modprobe, mkfs.ext4 live in /sbin).
syspath="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
has() { PATH=$syspath command -v "$1" >/dev/null 2>&1; }
missing=()
has qemu-system-x86_64 || missing+=(qemu-system-x86)
# run-in-guest.sh puts busybox into the initramfs: it must be the static one.
{ has busybox && ! ldd "$(PATH=$syspath command -v busybox)" >/dev/null 2>&1; } || missing+=(busybox-static)
has nbd-client || missing+=(nbd-client)
{ has mkfs.ext4 && has fsck.ext4; } || missing+=(e2fsprogs)
{ has modprobe && has depmod; } || missing+=(kmod) # modprobe in the guest, depmod for fetch-kernel.sh
has cpio || missing+=(cpio)                        # run-in-guest.sh builds its initramfs with it
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  sudo=
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
export PATH=$syspath

# Guest kernel: run-in-guest.sh boots one from the cache (fetch-kernel.sh) or /boot.
have_kernel=
for img in "$cache"/kroot/boot/vmlinuz-* /boot/vmlinuz-*; do
  [ -f "$img" ] && have_kernel=1 && break
done
if [ -z "$have_kernel" ]; then
  say "no guest kernel yet: $KVM_GUEST_DIR/fetch-kernel.sh"
  KVM_GUEST_CACHE=$cache "$KVM_GUEST_DIR/fetch-kernel.sh"
fi

# The CLI, published here: the guest has no network (no NuGet) and runs .NET 20-30x slower.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kernel-nbd-check.XXXXXX")
cleanup_host() {
  if [ "${KERNEL_NBD_CHECK_KEEP:-}" = 1 ]; then say "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup_host EXIT
mkdir -p "$tmp/out"
say "publishing src/Blkmq.Cli (Release, ReadyToRun) to $tmp/pub"
if ! "$root/scripts/publish-guest-cli.sh" "$tmp/pub"; then
  echo "FAIL: dotnet publish"
  exit 1
fi
[ -x "$tmp/pub/blkmq" ] || { echo "FAIL: dotnet publish (no $tmp/pub/blkmq)"; exit 1; }
echo "PASS: dotnet publish"

# The guest: one run, 1 vCPU (the TCG default), under nice so that the host stays usable.
timeout=${KERNEL_NBD_CHECK_TIMEOUT:-600}
say "booting the guest (timeout ${timeout}s; under TCG this takes minutes)"
export BLKMQ_PUB="$tmp/pub" BLKMQ_OUT="$tmp/out"
set +e
KVM_GUEST_CACHE=$cache nice -n 10 "$KVM_GUEST_DIR/run-in-guest.sh" -t "$timeout" -w "$tmp/out" -C "$root" \
  "bash $(printf %q "$self") --in-guest"
rc=$?
set -e
total=$(( $(date +%s) - start ))

log="$tmp/out/server.log"
if [ $rc -eq 0 ]; then
  # Console logger, single-line format: "info: ...", "warn: ...", "fail: ...", "crit: ...".
  bad=$(grep -cE '^(warn|fail|crit):|Exception' "$log" 2>/dev/null || true)
  say "server log: $(wc -l < "$log" 2>/dev/null || echo 0) lines, ${bad:-0} warn/fail/crit or exception"
  [ "${bad:-0}" -eq 0 ] || grep -E '^(warn|fail|crit):|Exception' "$log" | tail -20 | sed 's/^/    /'
  echo "PASS: kernel NBD client against blkmq serve (${total}s)"
  exit 0
fi
case $rc in
  124) echo "FAIL: the guest timed out after ${timeout}s" ;;
  125) echo "FAIL: the guest died before reporting a status" ;;
esac
if [ -s "$log" ]; then
  echo "---- server log (last 40 lines of stderr)"
  tail -40 "$log"
else
  echo "---- server log: empty or missing"
fi
echo "FAIL: kernel NBD client against blkmq serve (exit $rc, ${total}s)"
exit 1
