#!/usr/bin/env bash
# Checks the ublk front end: `blkmq serve --ublk` makes every export a real Linux block device /dev/ublkbN that
# the kernel's own blk-mq queues requests to. The development machine's kernel has no ublk_drv, so the check runs
# inside the throwaway QEMU guest of ../shared/kvm-guest (Debian's 6.12 kernel, which has it), like
# scripts/kernel-nbd-check.sh.
#
#   scripts/ublk-check.sh
#
# Steps (each prints PASS/FAIL; the script exits non-zero on the first failure):
#   on the host:  install missing packages, fetch the guest kernel when there is none, publish src/Blkmq.Cli;
#   in the guest: modprobe ublk_drv; then
#   - kill: a server killed with SIGKILL during IO: IO on its device fails within seconds (never hangs), and
#     `blkmq ublk delete 0` leaves no device (first, so that its result stands whatever follows);
#   - recovery-on / recovery-off (--ublk-user-copy on / off, the device's flags checked): a --ublk-recoverable
#     server over a file SIGKILLed during a 16 MiB O_DIRECT write: /dev/ublkb0 stays, the write and a new read
#     wait; blkmq serve --recover 0 takes over; both complete, the data reads back intact, SIGTERM leaves nothing;
#   - recovery-mq: the same with a 2-queue device (--ublk-queues 2, USER_COPY) and two 16 MiB writers pinned to
#     CPUs 0 and 1 (modulo the guest's CPUs), each queue thread on its own CPU (KVM_GUEST_CPUS=2; not in .ci/run);
#   - main-on / main-off: blkmq serve --ublk --ublk-id 0 with two exports (256 MiB, 512-byte blocks; 64 MiB,
#     4096-byte blocks) -> /dev/ublkb0 and /dev/ublkb1 with the right size and block sizes (blockdev --getss
#     --getpbsz --getsize64); 8 MiB O_DIRECT write + read back + cmp; mkfs.ext4, mount, 4 MiB random file +
#     sha256, umount, e2fsck -fn clean, mount again and verify; fio io_uring direct randwrite with crc32c verify,
#     depth 32, 2 jobs; blkdiscard of a written range reads back zeroes; SIGTERM -> exit 0 and no /dev/ublk[bc]N;
#   - zoned: a zoned export: blkzone report / finish / open / close / reset, writes at and behind the write
#     pointer, fio zbd verify, btrfs -O zoned (its zone appends counted in the block trace, its file read back);
#   - unprivileged: the server run as uid 65534, root standing in for udev; IO, fio verify and ublk list as that
#     user, another user refused.
#
# Exit status: 0 all passed, 1 a step failed, 2 no kvm-guest folder (skipped by scripts/test.sh).
# Environment: KVM_GUEST_DIR, KVM_GUEST_CACHE (as run-in-guest.sh), UBLK_CHECK_TIMEOUT (default 1500 s),
# UBLK_CHECK_KEEP=1 (keep the temporary folder: published CLI, server logs, dmesg), UBLK_CHECK_ONLY="kill recovery-on
# main-on recovery-off main-off recovery-mq zoned unprivileged" (run only these sections; default all),
# BLKMQ_GUEST_PUB (a folder where scripts/publish-guest-cli.sh published the CLI: used instead of publishing).
set -euo pipefail

if [ "${1:-}" = --in-guest ]; then
  set +e
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
  export HOME=/run/home DOTNET_CLI_HOME=/run/home
  mkdir -p "$HOME"
  out=$BLKMQ_OUT
  blkmq=$BLKMQ_PUB/blkmq
  mnt=/mnt/blkmq-ublk
  spid= mounted= ok= run_as= udevpid=
  t0=$(date +%s.%N)
  elapsed() { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%6.1fs", b - a }'; }
  pass() { echo "[$(elapsed)] PASS: $*"; }
  fail() { echo "[$(elapsed)] FAIL: $*"; exit 1; }
  step() {
    local name=$1 output
    shift
    if output=$("$@" 2>&1); then pass "$name"; else
      [ -z "$output" ] || printf '%s\n' "$output" | tail -20 | sed 's/^/    /'
      fail "$name"
    fi
  }
  stop_server() { # pid: SIGTERM, wait up to 60 s, else SIGKILL
    kill -TERM "$1" 2>/dev/null
    for _ in $(seq 300); do kill -0 "$1" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$1" 2>/dev/null; then echo "server (pid $1) still running 60 s after SIGTERM: SIGKILL"; kill -KILL "$1"; fi
    wait "$1" 2>/dev/null
  }
  cleanup() {
    local rc=$?
    [ -z "$mounted" ] || umount "$mnt" 2>/dev/null
    [ -z "$spid" ] || stop_server "$spid"
    [ -z "$udevpid" ] || kill "$udevpid" 2>/dev/null
    for c in /dev/ublkc*; do [ -e "$c" ] && "$blkmq" ublk delete "${c#/dev/ublkc}" >/dev/null 2>&1; done
    dmesg > "$out/dmesg.txt" 2>&1
    local lines
    lines=$(grep -E 'ublk|EXT4-fs|I/O error|blk_update|timed out|WARNING|BUG:|Oops|Call Trace' "$out/dmesg.txt")
    [ -z "$lines" ] || { echo "---- guest dmesg (ublk/ext4/block lines)"; printf '%s\n' "$lines" | tail -40; }
    [ -n "$ok" ] || [ "$rc" -ne 0 ] || rc=1
    exit "$rc"
  }
  trap cleanup EXIT
  # start_server LOG ARGS...: starts blkmq serve, waits (up to 240 s: .NET starts slowly under TCG) for as many
  # /dev/ublkbN lines as there are --export options; sets spid.
  start_server() {
    local log=$1 want
    shift
    want=$(printf '%s\n' "$@" | grep -c '^--export$')
    $run_as "$blkmq" serve --ublk --listen none "$@" > "$out/$log.out" 2> "$out/$log.log" &
    spid=$!
    for _ in $(seq 1200); do
      [ "$(grep -c '^/dev/ublkb' "$out/$log.out" 2>/dev/null)" -ge "$want" ] && return 0
      kill -0 "$spid" 2>/dev/null || break
      sleep 0.2
    done
    kill -0 "$spid" 2>/dev/null || { wait "$spid"; echo "    server exited with status $? before printing its devices"; }
    tail -5 "$out/$log.log" | sed 's/^/    /'
    return 1
  }
  geometry() { # dev size logical physical
    local got
    got=$(blockdev --getsize64 --getss --getpbsz "$1" 2>&1 | tr '\n' ' ')
    [ "$got" = "$2 $3 $4 " ] && pass "$1: size $2, logical $3, physical $4" || fail "$1: blockdev --getsize64 --getss --getpbsz = '$got', expected '$2 $3 $4'"
  }

  echo "guest: kernel $(uname -r), $(nproc) CPU(s), fio $(fio --version)"
  step "modprobe ublk_drv" modprobe ublk_drv
  [ -c /dev/ublk-control ] || fail "modprobe ublk_drv (/dev/ublk-control missing)"
  [ ! -e /dev/ublkc0 ] || fail "/dev/ublkc0 exists already; not touching it"

  want() { [ -z "${UBLK_CHECK_ONLY:-}" ] || [[ " $UBLK_CHECK_ONLY " == *" $1 "* ]]; }
  no_device_left() { # what
    local left
    left=$(ls /dev/ublkb* /dev/ublkc* 2>/dev/null | tr '\n' ' ')
    [ -z "$left" ] && pass "no ublk device left $1" || fail "devices left $1: $left"
  }

  # A server killed with SIGKILL (no recovery): the kernel stops the device; IO fails within seconds.
  check_killed() {
  start_server killed --ublk-id 0 --export disk=memory:size=64M || fail "server start (to be killed)"
  pass "server to be killed: pid $spid"
  dd if=/dev/ublkb0 of=/dev/null bs=4k iflag=direct status=none count=1000000 &
  ddpid=$!
  sleep 1
  kill -KILL "$spid"
  wait "$spid" 2>/dev/null
  spid=
  killed=$(date +%s)
  for _ in $(seq 150); do kill -0 "$ddpid" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$ddpid" 2>/dev/null; then kill -KILL "$ddpid"; fail "IO still running 30 s after the server's SIGKILL (hang)"; fi
  wait "$ddpid"
  ddrc=$?
  [ "$ddrc" -ne 0 ] && pass "IO in flight failed after SIGKILL (dd exit $ddrc, within $(( $(date +%s) - killed )) s)" \
    || fail "dd exited 0 although its server was killed"
  if dd if=/dev/ublkb0 of=/dev/null bs=4k count=1 iflag=direct status=none 2>/dev/null; then
    fail "new IO on /dev/ublkb0 succeeded after its server was killed"
  fi
  pass "new IO after SIGKILL fails"
  step "blkmq ublk list" "$blkmq" ublk list
  step "blkmq ublk delete 0" "$blkmq" ublk delete 0
  no_device_left "after cleanup"
  }

  # A recoverable server (--ublk-recoverable) over a file killed with SIGKILL in the middle of a 16 MiB O_DIRECT
  # write: /dev/ublkb0 stays, the write and a new read wait (do not fail); `blkmq serve --recover 0` takes over,
  # the kernel reissues what the dead server held, both complete and the data reads back intact. The delay filter
  # (20 ms per write) keeps writes in the server when it is killed.
  # check_recovery MODE [QUEUES]: with QUEUES > 1 (section recovery-mq) the device has that many queues and as many
  # writers run, writer i writing the pattern at i * 16 MiB, pinned to CPU i (modulo the guest's CPUs: with one vCPU
  # every request goes through queue 0 and the others only have to be fetched again by the recovering server).
  check_recovery() {
  local mode=$1 queues=${2:-1} img=/run/blkmq-recover.img pat=/run/recover-pattern stack tag=$1 qopt=() i p
  local wpids=() ncpu
  ncpu=$(nproc)
  if [ "$queues" -gt 1 ]; then
    tag=mq
    qopt=(--ublk-queues "$queues")
  fi
  echo "---- recovery, --ublk-user-copy $mode, $queues queue(s), $ncpu CPU(s)"
  stack="disk=file:path=$img|delay:write=20ms"
  rm -f "$img"
  step "recovery: 64 MiB image file $img" truncate -s 64M "$img"
  step "recovery: 16 MiB random pattern" dd if=/dev/urandom of="$pat" bs=1M count=16 iflag=fullblock status=none
  start_server "recoverable-$tag" --ublk-id 0 --ublk-recoverable --ublk-user-copy "$mode" "${qopt[@]}" --export "$stack" \
    || fail "recovery: server start"
  grep -q 'user_recovery,user_recovery_reissue' "$out/recoverable-$tag.log" && pass "recovery: server pid $spid, device is USER_RECOVERY | REISSUE" \
    || fail "recovery: the device is not USER_RECOVERY | REISSUE: $(grep -o 'flags .*' "$out/recoverable-$tag.log" | head -1)"
  copy_mode "recoverable-$tag" "$mode"
  # ADD_DEV gives at most one queue per possible CPU: with one vCPU the device has one queue.
  [ "$queues" -eq 1 ] || queue_count $((queues < ncpu ? queues : ncpu))
  [ "$queues" -eq 1 ] || [ "$ncpu" -lt "$queues" ] || queue_cpus "$queues"
  for ((i = 0; i < queues; i++)); do
    taskset -c $((i % ncpu)) dd if="$pat" of=/dev/ublkb0 bs=64k seek=$((i * 256)) oflag=direct status=none &
    wpids+=($!)
  done
  local rpid
  sleep 2
  for p in "${wpids[@]}"; do kill -0 "$p" 2>/dev/null || fail "recovery: a 16 MiB write ended before the kill (too fast for this check)"; done
  kill -KILL "$spid"
  wait "$spid" 2>/dev/null
  spid=
  pass "recovery: server SIGKILLed during the write$( [ "$queues" -gt 1 ] && echo "s ($queues writers)")"
  sleep 3
  [ -b /dev/ublkb0 ] && pass "recovery: /dev/ublkb0 still exists 3 s after SIGKILL" || fail "recovery: /dev/ublkb0 is gone after SIGKILL"
  for p in "${wpids[@]}"; do
    kill -0 "$p" 2>/dev/null || { wait "$p"; fail "recovery: a write ended (exit $?) while no server ran"; }
  done
  pass "recovery: the write$( [ "$queues" -gt 1 ] && echo "s") wait$( [ "$queues" -gt 1 ] || echo "s") (no failure)"
  dd if=/dev/ublkb0 of=/run/recover-read bs=1M count=1 iflag=direct status=none &
  rpid=$!
  sleep 2
  kill -0 "$rpid" 2>/dev/null && pass "recovery: a new read waits too" || { wait "$rpid"; fail "recovery: a new read ended (exit $?) while no server ran"; }
  "$blkmq" ublk list | sed 's/^/    /'
  if [ "$mode" = on ] && [ "$queues" -eq 1 ]; then
    # A recovery with another disk (32 MiB, not 64) is refused and leaves the device as it was, still waiting.
    if "$blkmq" serve --ublk --listen none --recover 0 --export disk=memory:size=32M > "$out/wrong.out" 2> "$out/wrong.log"; then
      fail "recovery: serve --recover 0 with a 32 MiB disk succeeded"
    fi
    grep -q 'not the same disk' "$out/wrong.log" && [ -b /dev/ublkb0 ] && "$blkmq" ublk list | grep -qE '^0 +quiesced' && kill -0 "${wpids[0]}" \
      && pass "recovery: --recover with a disk of another size is refused; the device stays, quiesced, its IO waiting" \
      || { tail -3 "$out/wrong.log" | sed 's/^/    /'; fail "recovery: --recover with a wrong disk"; }
  fi
  local t=$(date +%s)
  start_server "recovered-$tag" --recover 0 --export "$stack" || fail "recovery: blkmq serve --recover 0"
  grep -q 'recovered by this server' "$out/recovered-$tag.log" && pass "recovery: serve --recover 0 took over (pid $spid, $(( $(date +%s) - t )) s)" \
    || fail "recovery: no 'recovered' line in the log"
  [ "$queues" -eq 1 ] || queue_count $((queues < ncpu ? queues : ncpu))
  for p in "${wpids[@]}"; do
    for _ in $(seq 600); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$p" 2>/dev/null && { kill -KILL "${wpids[@]}"; fail "recovery: a write still runs 120 s after recovery"; }
    wait "$p" || fail "recovery: a write failed (exit $?)"
  done
  pass "recovery: the write$( [ "$queues" -gt 1 ] && echo "s") completed (exit 0)"
  wait "$rpid" && pass "recovery: the read completed (exit 0)" || fail "recovery: the read failed (exit $?)"
  for ((i = 0; i < queues; i++)); do
    step "recovery: 16 MiB at $((i * 16)) MiB read back through /dev/ublkb0 matches" \
      cmp "$pat" <(dd if=/dev/ublkb0 bs=1M skip=$((i * 16)) count=16 iflag=direct status=none)
  done
  stop_server "$spid"
  local src=$?
  spid=
  [ "$src" -eq 0 ] && pass "recovery: recovered server SIGTERM -> exit 0" || fail "recovery: recovered server SIGTERM -> exit $src"
  no_device_left "after the recovered server's SIGTERM"
  for ((i = 0; i < queues; i++)); do
    step "recovery: the file holds the pattern at $((i * 16)) MiB" cmp -n 16777216 "$pat" "$img" 0 $((i * 16777216))
  done
  rm -f "$img" "$pat" /run/recover-read
  }

  # queue_count N: device 0 has N queues (blkmq ublk list, its third column).
  queue_count() {
    local got
    got=$("$blkmq" ublk list | awk '$1 == 0 { print $3 }')
    [ "$got" = "$1" ] && pass "recovery: device 0 has $1 queue(s)" || fail "recovery: device 0 has '$got' queues, expected $1"
  }

  # queue_cpus N: with N > 1 queues on as many CPUs, each queue thread ublk0qI of server $spid runs on one CPU of its
  # own (GET_QUEUE_AFFINITY: the kernel maps one CPU to each queue), so that its IO lands on Blkmq queue I.
  queue_cpus() {
    local i tid cpus seen=
    for ((i = 0; i < $1; i++)); do
      tid=$(grep -lx "ublk0q$i" /proc/"$spid"/task/*/comm 2>/dev/null | head -1 | cut -d/ -f5)
      [ -n "$tid" ] || fail "recovery: no thread ublk0q$i in server $spid"
      cpus=$(taskset -pc "$tid" | awk -F': ' '{ print $2 }')
      [[ $cpus =~ ^[0-9]+$ ]] || fail "recovery: queue $i's thread runs on CPUs '$cpus', not one CPU"
      [[ " $seen " != *" $cpus "* ]] || fail "recovery: queues share CPU $cpus"
      seen="$seen $cpus"
    done
    pass "recovery: each queue thread runs on its own CPU (queue:CPU$(for c in $seen; do printf ' %s' "$c"; done))"
  }

  # copy_mode LOG MODE: the device of server log LOG moves data as --ublk-user-copy MODE says (this kernel has it).
  copy_mode() {
    local flags
    flags=$(grep -o 'flags [a-z_,]*' "$out/$1.log" | head -1)
    case $2 in
      on) [[ $flags == *user_copy* ]] ;;
      off) [[ $flags != *user_copy* ]] ;;
    esac && pass "--ublk-user-copy $2: device $flags" || fail "--ublk-user-copy $2: device $flags"
  }

  # check_main MODE: the checks of an ordinary server, with --ublk-user-copy MODE.
  check_main() {
  local mode=$1
  echo "---- two exports, --ublk-user-copy $mode"
  start_server "server-$mode" --ublk-id 0 --ublk-user-copy "$mode" --export disk=memory:size=256M --export small=memory:size=64M,bs=4096 \
    || fail "server start (two exports)"
  pass "server start: pid $spid, $(tr '\n' ' ' < "$out/server-$mode.out")"
  [ "$(sed -n 1p "$out/server-$mode.out")" = /dev/ublkb0 ] && [ "$(sed -n 2p "$out/server-$mode.out")" = /dev/ublkb1 ] \
    && pass "two exports -> /dev/ublkb0 and /dev/ublkb1" || fail "devices printed: $(tr '\n' ' ' < "$out/server-$mode.out")"
  copy_mode "server-$mode" "$mode"
  geometry /dev/ublkb0 268435456 512 512
  geometry /dev/ublkb1 67108864 4096 4096

  step "dd 8 MiB from /dev/urandom" dd if=/dev/urandom of=/run/x bs=1M count=8 iflag=fullblock status=none
  step "dd oflag=direct -> /dev/ublkb0" dd if=/run/x of=/dev/ublkb0 bs=1M oflag=direct status=none
  step "dd iflag=direct <- /dev/ublkb0" dd if=/dev/ublkb0 of=/run/y bs=1M count=8 iflag=direct status=none
  step "cmp direct-IO data (8 MiB)" cmp /run/x /run/y

  step "mkfs.ext4 -q /dev/ublkb0" mkfs.ext4 -q /dev/ublkb0
  mkdir -p "$mnt"
  step "mount /dev/ublkb0" mount /dev/ublkb0 "$mnt"
  mounted=1
  step "write 4 MiB random file" dd if=/dev/urandom of="$mnt/random.bin" bs=1M count=4 iflag=fullblock status=none
  sum=$(cd "$mnt" && sha256sum random.bin)
  step "sync" sync
  step "umount" umount "$mnt"
  mounted=
  fsck_out=$(e2fsck -fn /dev/ublkb0 2>&1)
  fsck_rc=$?
  printf '%s\n' "$fsck_out" | sed 's/^/    /'
  [ "$fsck_rc" -eq 0 ] && pass "e2fsck -fn /dev/ublkb0: clean" || fail "e2fsck -fn /dev/ublkb0: exit $fsck_rc"
  step "mount again" mount /dev/ublkb0 "$mnt"
  mounted=1
  again=$(cd "$mnt" && sha256sum random.bin)
  [ "$again" = "$sum" ] && pass "sha256 matches after remount ($sum)" || fail "sha256 differs after remount: '$again' vs '$sum'"
  step "umount" umount "$mnt"
  mounted=

  # fio: 2 jobs, each on its own 16 MiB half of /dev/ublkb1, writing 4 KiB blocks with crc32c headers at depth 32
  # through io_uring with O_DIRECT, then reading every block back and checking it.
  step "fio io_uring direct randwrite+verify crc32c, iodepth 32, 2 jobs" \
    fio --name=v --filename=/dev/ublkb1 --ioengine=io_uring --direct=1 --rw=randwrite --bs=4k --iodepth=32 \
      --numjobs=2 --size=16M --offset_increment=16M --verify=crc32c --do_verify=1 --verify_fatal=1 \
      --group_reporting --output="$out/fio-$mode.txt"
  grep -E 'IOPS|err=' "$out/fio-$mode.txt" | head -4 | sed 's/^/    /'

  step "dd 1 MiB random -> /dev/ublkb1 at 32 MiB" dd if=/dev/urandom of=/dev/ublkb1 bs=1M count=1 seek=32 oflag=direct status=none
  step "blkdiscard -o 32M -l 1M /dev/ublkb1" blkdiscard -o 33554432 -l 1048576 /dev/ublkb1
  step "discarded range reads as zeroes" cmp -n 1048576 <(dd if=/dev/ublkb1 bs=1M count=1 skip=32 iflag=direct status=none) /dev/zero

  stop_server "$spid"
  src=$?
  spid=
  [ "$src" -eq 0 ] && pass "server stop: SIGTERM -> exit 0" || fail "server stop: SIGTERM -> exit $src"
  no_device_left "after SIGTERM"
  }

  # An unprivileged device (UBLK_F_UNPRIVILEGED_DEV, Linux 6.3+): the server runs as user nobody. Root plays udev's
  # part as ublksrv's rules do: /dev/ublk-control mode 0666, /dev/ublkc0 and /dev/ublkb0 given to their owner.
  check_unprivileged() {
  local uid=65534 as
  echo "---- unprivileged: the server runs as uid $uid"
  chmod 0666 /dev/ublk-control
  ( while :; do
      for d in /dev/ublkc0 /dev/ublkb0; do
        [ "$(stat -c %u "$d" 2>/dev/null)" = "$uid" ] || chown "$uid:$uid" "$d" 2>/dev/null
      done
      sleep 0.1
    done ) &
  udevpid=$!
  mkdir -p /run/nobody && chown "$uid:$uid" /run/nobody
  # The published CLI and the folders above it (BLKMQ_PUB may be a link to a folder published once for several checks).
  pub_real=$(readlink -f "$BLKMQ_PUB")
  chmod a+rx "$(dirname "$BLKMQ_PUB")" "$(dirname "$pub_real")" "$pub_real"
  as="setpriv --reuid=$uid --regid=$uid --clear-groups env HOME=/run/nobody DOTNET_CLI_HOME=/run/nobody"
  run_as=$as
  start_server unprivileged --ublk-id 0 --export disk=memory:size=64M || fail "unprivileged: server start"
  run_as=
  [ "$(stat -c %u "/proc/$spid")" = "$uid" ] && pass "unprivileged: server pid $spid runs as uid $uid" || fail "unprivileged: the server is not uid $uid"
  grep -q 'flags [a-z_,]*unprivileged' "$out/unprivileged.log" && pass "unprivileged: device $(grep -o 'flags [a-z_,]*' "$out/unprivileged.log" | head -1)" \
    || fail "unprivileged: device $(grep -o 'flags [a-z_,]*' "$out/unprivileged.log" | head -1)"
  step "unprivileged: dd 8 MiB from /dev/urandom" dd if=/dev/urandom of=/run/nobody/x bs=1M count=8 iflag=fullblock status=none
  chown "$uid" /run/nobody/x
  sleep 0.5
  step "unprivileged: as uid $uid, dd oflag=direct -> /dev/ublkb0" $as dd if=/run/nobody/x of=/dev/ublkb0 bs=1M oflag=direct status=none
  step "unprivileged: as uid $uid, dd iflag=direct <- /dev/ublkb0" $as dd if=/dev/ublkb0 of=/run/nobody/y bs=1M count=8 iflag=direct status=none
  step "unprivileged: cmp (8 MiB)" cmp /run/nobody/x /run/nobody/y
  step "unprivileged: as uid $uid, fio io_uring direct randwrite+verify crc32c, iodepth 16" \
    $as fio --name=u --filename=/dev/ublkb0 --ioengine=io_uring --direct=1 --rw=randwrite --bs=4k --iodepth=16 \
      --size=8M --verify=crc32c --do_verify=1 --verify_fatal=1 --output=/run/nobody/fio.txt
  step "unprivileged: as uid $uid, blkmq ublk list shows its device" bash -c "$as $blkmq ublk list | grep -E '^0 +live .*unprivileged'"
  chmod 0666 /dev/ublkb0
  if setpriv --reuid=65533 --regid=65533 --clear-groups dd if=/dev/ublkb0 of=/dev/null bs=4k count=1 iflag=direct status=none 2>/dev/null; then
    fail "unprivileged: another user (uid 65533) could read /dev/ublkb0 (mode 0666)"
  fi
  pass "unprivileged: another user cannot open /dev/ublkb0 even with mode 0666 (the kernel checks the owner)"
  stop_server "$spid"
  local src=$?
  spid=
  [ "$src" -eq 0 ] && pass "unprivileged: SIGTERM -> exit 0" || fail "unprivileged: SIGTERM -> exit $src"
  kill "$udevpid"; wait "$udevpid" 2>/dev/null; udevpid=
  chmod 0600 /dev/ublk-control
  no_device_left "after the unprivileged server's SIGTERM"
  }

  # A zoned disk (the null driver's zoned=1: 64 zones of 4 MiB, zone 0 conventional) as a host-managed /dev/ublkb0
  # (UBLK_F_ZONED, Linux 6.6, which needs USER_COPY): the kernel's view of the zones, REPORT_ZONES (blkzone report),
  # writes at and behind the write pointer, zone open / close / finish / reset / reset all, fio's zbd mode, and
  # btrfs in zoned mode, whose data writes are zone appends: a file written, remounted and read back intact means
  # every append's data went where the commit said (btrfs checks its data checksums on read).
  zone() { # zone-start-sector: its blkzone report line
    blkzone report -o "$1" -c 1 /dev/ublkb0
  }
  check_zoned() {
  local line
  echo "---- zoned: 64 zones of 4 MiB, zone 0 conventional"
  start_server zoned --ublk-id 0 --export 'z=null:memory_backed=1,size=256M,zoned=1,zone_size=4,zone_nr_conv=1' \
    || fail "zoned: server start"
  grep -q 'flags [a-z_,]*user_copy,zoned' "$out/zoned.log" && pass "zoned: device $(grep -o 'flags [a-z_,]*' "$out/zoned.log" | head -1)" \
    || fail "zoned: device $(grep -o 'flags [a-z_,]*' "$out/zoned.log" | head -1)"
  line="$(cat /sys/block/ublkb0/queue/zoned) $(cat /sys/block/ublkb0/queue/nr_zones) $(cat /sys/block/ublkb0/queue/chunk_sectors)"
  [ "$line" = "host-managed 64 8192" ] && pass "zoned: sysfs zoned / nr_zones / chunk_sectors = $line" \
    || fail "zoned: sysfs zoned / nr_zones / chunk_sectors = '$line', expected 'host-managed 64 8192'"
  blkzone report /dev/ublkb0 > "$out/zones.txt" 2>&1
  [ "$(grep -c 'zcond' "$out/zones.txt")" = 64 ] && grep -m1 zcond "$out/zones.txt" | grep -q CONVENTIONAL \
    && [ "$(grep -c 'SEQ_WRITE_REQUIRED' "$out/zones.txt")" = 63 ] \
    && pass "zoned: blkzone report: 64 zones, 1 conventional, 63 sequential write required" \
    || { sed 's/^/    /' "$out/zones.txt" | head -5; fail "zoned: blkzone report"; }
  step "zoned: dd 1 MiB random" dd if=/dev/urandom of=/run/z bs=1M count=1 iflag=fullblock status=none
  step "zoned: dd 1 MiB O_DIRECT at zone 1's write pointer" dd if=/run/z of=/dev/ublkb0 bs=1M seek=4 oflag=direct status=none
  zone 8192 | grep -qE 'wptr 0x0*800 ' && pass "zoned: zone 1's write pointer moved 1 MiB: $(zone 8192)" || fail "zoned: zone 1: $(zone 8192)"
  if dd if=/run/z of=/dev/ublkb0 bs=1M seek=4 oflag=direct status=none 2>/dev/null; then
    fail "zoned: a write behind zone 1's write pointer succeeded"
  fi
  pass "zoned: a write behind the write pointer fails"
  step "zoned: the 1 MiB reads back" cmp /run/z <(dd if=/dev/ublkb0 bs=1M count=1 skip=4 iflag=direct status=none)
  step "zoned: blkzone finish zone 2" blkzone finish -o 16384 -c 1 /dev/ublkb0
  zone 16384 | grep -q '(fu)' && pass "zoned: zone 2 full" || fail "zoned: zone 2 after finish: $(zone 16384)"
  step "zoned: blkzone open zone 3" blkzone open -o 24576 -c 1 /dev/ublkb0
  zone 24576 | grep -q '(oe)' && pass "zoned: zone 3 explicitly open" || fail "zoned: zone 3 after open: $(zone 24576)"
  step "zoned: blkzone close zone 3" blkzone close -o 24576 -c 1 /dev/ublkb0
  zone 24576 | grep -q '(em)' && pass "zoned: zone 3 empty again (closed with nothing written)" || fail "zoned: zone 3 after close: $(zone 24576)"
  step "zoned: blkzone reset zone 1" blkzone reset -o 8192 -c 1 /dev/ublkb0
  zone 8192 | grep -qE 'wptr 0x0*0 .*\(em\)' && pass "zoned: zone 1 empty, write pointer at its start" || fail "zoned: zone 1 after reset: $(zone 8192)"
  step "zoned: blkzone reset (all zones)" blkzone reset /dev/ublkb0
  zone 16384 | grep -q '(em)' && pass "zoned: zone 2 empty after reset all" || fail "zoned: zone 2 after reset all: $(zone 16384)"
  step "zoned: fio zonemode=zbd sequential write + crc32c verify, 16 MiB over 4 zones" \
    fio --name=z --filename=/dev/ublkb0 --ioengine=io_uring --direct=1 --zonemode=zbd --rw=write --bs=64k \
      --iodepth=1 --offset=4M --size=16M --verify=crc32c --do_verify=1 --verify_fatal=1 --output="$out/fio-zoned.txt"
  step "zoned: blkzone reset (all zones)" blkzone reset /dev/ublkb0
  step "zoned: mkfs.btrfs -O zoned" mkfs.btrfs -q -f -O zoned /dev/ublkb0
  mkdir -p "$mnt"
  step "zoned: mount btrfs" mount -t btrfs /dev/ublkb0 "$mnt"
  mounted=1
  # The block layer's trace shows the zone appends (6.12 names them N, with a length; zone management has none).
  local tr=/sys/kernel/tracing appends
  mountpoint -q "$tr" || mount -t tracefs nodev "$tr" 2>/dev/null
  [ -w "$tr/events/block/block_rq_issue/enable" ] && { echo > "$tr/trace"; echo 1 > "$tr/events/block/block_rq_issue/enable"; }
  step "zoned: write 8 MiB random file" dd if=/dev/urandom of="$mnt/z.bin" bs=1M count=8 iflag=fullblock status=none
  sum=$(cd "$mnt" && sha256sum z.bin)
  step "zoned: sync" sync
  if [ -w "$tr/events/block/block_rq_issue/enable" ]; then
    echo 0 > "$tr/events/block/block_rq_issue/enable"
    appends=$(grep -cE " $(( $(stat -c 0x%t /dev/ublkb0) )),$(( $(stat -c 0x%T /dev/ublkb0) )) N [0-9]+ \(\) [0-9]+ \+ [1-9]" "$tr/trace")
    [ "$appends" -gt 0 ] && pass "zoned: btrfs wrote its data with $appends zone appends (block_rq_issue)" \
      || fail "zoned: no zone append seen in the block trace"
  else
    echo "    (no tracefs: zone appends not counted)"
  fi
  step "zoned: umount" umount "$mnt"
  mounted=
  step "zoned: mount btrfs again" mount -t btrfs /dev/ublkb0 "$mnt"
  mounted=1
  again=$(cd "$mnt" && sha256sum z.bin)
  [ "$again" = "$sum" ] && pass "zoned: btrfs file reads back intact after remount" || fail "zoned: btrfs file differs: '$again' vs '$sum'"
  step "zoned: umount" umount "$mnt"
  mounted=
  stop_server "$spid"
  local src=$?
  spid=
  [ "$src" -eq 0 ] && pass "zoned: SIGTERM -> exit 0" || fail "zoned: SIGTERM -> exit $src"
  no_device_left "after the zoned server's SIGTERM"
  }

  want kill && check_killed
  # Both ways data moves (USER_COPY, and the per-tag buffers the kernel copies) under the same checks.
  for mode in on off; do
    want "recovery-$mode" && check_recovery "$mode"
    want "main-$mode" && check_main "$mode"
  done
  want recovery-mq && check_recovery on 2
  want zoned && check_zoned
  want unprivileged && check_unprivileged

  ok=1
  echo "[$(elapsed)] guest: all steps passed"
  exit 0
fi

# ------------------------------------------------------------------------------------------------------------
# Host side. The guest scaffolding is functions that bench/peer/ublk.sh uses too: it sources this file with
# `--functions`, which defines them and returns before the check itself runs.
# ------------------------------------------------------------------------------------------------------------
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
syspath="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
has() { PATH=$syspath command -v "$1" >/dev/null 2>&1; }

# guest_setup NAME [PACKAGE...]: finds the kvm-guest folder (sets KVM_GUEST_DIR and cache; exits 2 when there is
# none), installs the packages the guest itself needs plus the PACKAGEs given (the caller's missing tools), fetches a
# guest kernel with ublk when there is none, and puts the system directories on PATH.
guest_setup() {
  local me=$1 missing cfg has_ublk=
  shift
  missing=("$@")
  if [ -z "${KVM_GUEST_DIR:-}" ]; then
    KVM_GUEST_DIR=$root/../shared/kvm-guest
    [ -x "$KVM_GUEST_DIR/run-in-guest.sh" ] || KVM_GUEST_DIR=/work/shared/kvm-guest
  fi
  if [ ! -x "$KVM_GUEST_DIR/run-in-guest.sh" ]; then
    echo "$me: no kvm-guest folder at '$KVM_GUEST_DIR' (run-in-guest.sh missing); set KVM_GUEST_DIR" >&2
    exit 2
  fi
  KVM_GUEST_DIR=$(cd "$KVM_GUEST_DIR" && pwd)
  cache=${KVM_GUEST_CACHE:-/tmp/kvm-guest-cache}
  has qemu-system-x86_64 || missing+=(qemu-system-x86)
  { has busybox && ! ldd "$(PATH=$syspath command -v busybox)" >/dev/null 2>&1; } || missing+=(busybox-static)
  { has modprobe && has depmod; } || missing+=(kmod)
  has cpio || missing+=(cpio)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "$me: installing ${missing[*]}"
    local sudo=
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  export PATH=$syspath
  # The guest kernel must have ublk: fetch-kernel.sh unpacks Debian's 6.12 (bookworm's own 6.1 has none).
  for cfg in "$cache"/kroot/boot/config-* /boot/config-*; do
    grep -qE '^CONFIG_BLK_DEV_UBLK=(m|y)' "$cfg" 2>/dev/null && has_ublk=1 && break
  done
  if [ -z "$has_ublk" ]; then
    echo "$me: no guest kernel with ublk yet: $KVM_GUEST_DIR/fetch-kernel.sh"
    KVM_GUEST_CACHE=$cache "$KVM_GUEST_DIR/fetch-kernel.sh"
  fi
}

# guest_publish DIR: publishes src/Blkmq.Cli (Release, ReadyToRun: scripts/publish-guest-cli.sh) to DIR/pub (the
# guest has no network and runs .NET 20-30x slower); prints PASS, or the log's end and FAIL and returns 1.
guest_publish() {
  if ! "$root/scripts/publish-guest-cli.sh" "$1/pub"; then
    echo "FAIL: dotnet publish"
    return 1
  fi
  echo "PASS: dotnet publish"
}

# guest_run TIMEOUT OUTDIR COMMAND: runs COMMAND in a guest (the repository as its working directory, OUTDIR shared
# read-write, 1 vCPU under TCG) under nice, so that the host stays usable; returns run-in-guest.sh's status
# (124 timeout, 125 the guest died).
guest_run() {
  KVM_GUEST_CACHE=$cache nice -n 10 "$KVM_GUEST_DIR/run-in-guest.sh" -t "$1" -w "$2" -C "$root" "$3"
}

[ "${1:-}" != --functions ] || return 0

self="$root/scripts/$(basename "${BASH_SOURCE[0]}")"
start=$(date +%s)
say() { echo "ublk-check: $*"; }
missing=()
{ has mkfs.ext4 && has e2fsck; } || missing+=(e2fsprogs)
has fio || missing+=(fio)
{ has blkdiscard && has blockdev && has blkzone; } || missing+=(util-linux)
has mkfs.btrfs || missing+=(btrfs-progs)
guest_setup ublk-check "${missing[@]}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ublk-check.XXXXXX")
cleanup_host() {
  if [ "${UBLK_CHECK_KEEP:-}" = 1 ]; then say "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup_host EXIT
mkdir -p "$tmp/out"
say "publishing src/Blkmq.Cli (Release, ReadyToRun) to $tmp/pub"
guest_publish "$tmp" || exit 1

timeout=${UBLK_CHECK_TIMEOUT:-1500}
say "booting the guest (timeout ${timeout}s; under TCG this takes minutes)"
export BLKMQ_PUB="$tmp/pub" BLKMQ_OUT="$tmp/out"
set +e
guest_run "$timeout" "$tmp/out" "bash $(printf %q "$self") --in-guest"
rc=$?
set -e
total=$(( $(date +%s) - start ))
if [ $rc -eq 0 ]; then
  echo "PASS: ublk front end in the guest (${total}s)"
  exit 0
fi
case $rc in
  124) echo "FAIL: the guest timed out after ${timeout}s" ;;
  125) echo "FAIL: the guest died before reporting a status" ;;
esac
for log in "$tmp"/out/*.log; do
  [ -s "$log" ] || continue
  echo "---- $(basename "$log") (last 30 lines)"
  tail -30 "$log"
done
echo "FAIL: ublk front end in the guest (exit $rc, ${total}s)"
exit 1
