#!/usr/bin/env bash
# bench/peer/ublk.sh: the ublk front end against the kernel's own null_blk and the kernel NBD client, with the same
# fio job on each block device, in one run of the QEMU guest of ../shared/kvm-guest (Debian's 6.12 kernel: the host
# has neither ublk_drv nor nbd nor null_blk):
#
#   ublk      /dev/ublkb0  blkmq serve --ublk, export null:irqmode=0,memory_backed=0 (inline completion, no data)
#   null_blk  /dev/nullb0  modprobe null_blk queue_mode=2 irqmode=0 memory_backed=0 (the kernel's reference;
#                          skipped, and said so, when the guest kernel has no null_blk)
#   nbd       /dev/nbd0    nbd-client (one connection) to the same blkmq serve over 127.0.0.1
#
# One `blkmq serve --ublk --listen 127.0.0.1:0` serves the one export both ways (the other front end idles while one
# is measured). All three have 1 hardware queue of depth 64, 1 GiB, 512-byte blocks and the `none` IO scheduler.
# fio: 4 KiB randread, ioengine=io_uring, direct=1, QD1 and QD32, RUNTIME seconds each, after a warm-up of the two
# .NET paths (tiered JIT). ROUNDS rounds; in each, the order of the targets rotates. The table gives medians, QD1's
# mean latency and the ratios ublk/null_blk at QD32 and ublk/nbd at QD1. Without /dev/kvm (hardware virtualization)
# the guest is emulated (TCG): the output says so, and its figures say little about real hardware.
#
#   bench/peer/ublk.sh
#
# Environment: RUNTIME (seconds per fio job, default 5), ROUNDS (default 2), WARMUP (seconds of fio QD32 per .NET
# path before round 1, default 5), RAW (a file to keep every measurement in, as TSV), UBLK_BENCH_TIMEOUT (guest
# timeout, default 900 s), KVM_GUEST_DIR / KVM_GUEST_CACHE (as scripts/ublk-check.sh). The host side is
# scripts/ublk-check.sh's (sourced with --functions); the guest has run-in-guest.sh's CPUs (1 under TCG, where fio and
# the server then share it; KVM_GUEST_CPUS=N to change). About 4 minutes on the 2-core sandbox at the defaults.
set -euo pipefail
RUNTIME=${RUNTIME:-5}
ROUNDS=${ROUNDS:-2}
WARMUP=${WARMUP:-5}

# ------------------------------------------------------------------------------------------------------------
# Guest side: run as `ublk.sh --in-guest`, as root, with BLKMQ_PUB (published CLI) and BLKMQ_OUT (shared folder).
# Appends "target qd round iops lat_us" lines to $BLKMQ_OUT/results.tsv.
# ------------------------------------------------------------------------------------------------------------
if [ "${1:-}" = --in-guest ]; then
  set +e
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
  export HOME=/run/home DOTNET_CLI_HOME=/run/home
  mkdir -p "$HOME"
  out=$BLKMQ_OUT
  spid= connected=
  t0=$(date +%s.%N)
  elapsed() { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%6.1fs", b - a }'; }
  say() { echo "[$(elapsed)] $*"; }
  fail() { say "FAIL: $*"; exit 1; }
  cleanup() {
    local rc=$?
    [ -z "$connected" ] || nbd-client -d /dev/nbd0 >/dev/null 2>&1
    if [ -n "$spid" ]; then
      kill -TERM "$spid" 2>/dev/null
      for _ in $(seq 300); do kill -0 "$spid" 2>/dev/null || break; sleep 0.2; done
      kill -0 "$spid" 2>/dev/null && { echo "server (pid $spid) still running 60 s after SIGTERM: SIGKILL"; kill -KILL "$spid"; }
      wait "$spid" 2>/dev/null
    fi
    rmmod null_blk 2>/dev/null
    dmesg > "$out/dmesg.txt" 2>&1
    exit "$rc"
  }
  trap cleanup EXIT

  accel=emulated
  dmesg | grep -q 'Hypervisor detected: KVM' && accel=KVM
  echo "guest: kernel $(uname -r), $(nproc) vCPU ($accel), fio $(fio --version), nbd-client $(nbd-client -V 2>&1 | grep -oE '[0-9]+\.[0-9.]+' | head -1)"
  echo "accel $accel" > "$out/guest.txt"
  modprobe ublk_drv || fail "modprobe ublk_drv"
  modprobe nbd || fail "modprobe nbd"
  targets="ublk nbd"
  # null_blk with blkmq's null driver's parameters: blk-mq, inline completion, no data, 1 queue of 64 tags, 1 GiB.
  if modprobe null_blk nr_devices=1 queue_mode=2 irqmode=0 memory_backed=0 submit_queues=1 poll_queues=0 \
      hw_queue_depth=64 gb=1 bs=512 2> "$out/null_blk.err" && [ -b /dev/nullb0 ]; then
    targets="ublk null_blk nbd"
  else
    echo "null_blk: not available in this guest kernel ($(tr '\n' ' ' < "$out/null_blk.err")): its column is skipped"
    echo "no_null_blk" >> "$out/guest.txt"
  fi

  "$BLKMQ_PUB/blkmq" serve --ublk --ublk-id 0 --listen 127.0.0.1:0 --export 'n=null:irqmode=0,memory_backed=0,size=1G' \
    > "$out/server.out" 2> "$out/server.log" &
  spid=$!
  for _ in $(seq 1200); do # up to 240 s: .NET starts slowly under TCG
    grep -q '^/dev/ublkb0$' "$out/server.out" 2>/dev/null && break
    kill -0 "$spid" 2>/dev/null || { wait "$spid"; src=$?; spid=; tail -5 "$out/server.log"; fail "server exited with status $src"; }
    sleep 0.2
  done
  uri=$(grep -m1 '^nbd://' "$out/server.out")
  port=$(printf '%s\n' "$uri" | sed -n 's#^nbd://127\.0\.0\.1:\([0-9][0-9]*\)/n$#\1#p')
  [ -b /dev/ublkb0 ] && [ -n "$port" ] || fail "server start: $(tr '\n' ' ' < "$out/server.out")"
  say "server pid $spid: $(tr '\n' ' ' < "$out/server.out")"
  [ ! -e /sys/block/nbd0/pid ] || fail "/dev/nbd0 is already connected"
  connected=1
  nbd-client 127.0.0.1 "$port" /dev/nbd0 -N n > "$out/nbd-client.log" 2>&1 || { cat "$out/nbd-client.log"; fail "nbd-client"; }
  for _ in $(seq 50); do [ "$(blockdev --getsize64 /dev/nbd0 2>/dev/null)" = 1073741824 ] && break; sleep 0.2; done

  declare -A dev=([ublk]=/dev/ublkb0 [null_blk]=/dev/nullb0 [nbd]=/dev/nbd0)
  for t in $targets; do
    d=${dev[$t]#/dev/}
    echo none > "/sys/block/$d/queue/scheduler" 2>/dev/null
    say "$t: ${dev[$t]}, $(blockdev --getsize64 "${dev[$t]}") bytes, $(cat "/sys/block/$d/queue/logical_block_size")-byte blocks, $(ls "/sys/block/$d/mq" | wc -l) hw queue(s), nr_requests $(cat "/sys/block/$d/queue/nr_requests"), scheduler $(cat "/sys/block/$d/queue/scheduler")"
  done

  # fio_run DEV QD SECONDS: prints "iops lat_us" (fio's terse v3: field 8 read IOPS, field 40 mean total latency).
  fio_run() {
    fio --name=r --filename="$1" --ioengine=io_uring --direct=1 --rw=randread --bs=4k --iodepth="$2" \
      --runtime="$3" --time_based --output-format=terse --terse-version=3 2> "$out/fio.err" | awk -F';' '{ printf "%d %.1f\n", $8, $40 }'
  }
  for t in ublk nbd; do
    say "warm-up $t: ${WARMUP}s at QD32: $(fio_run "${dev[$t]}" 32 "$WARMUP" | cut -d' ' -f1) IOPS"
  done
  read -ra list <<< "$targets"
  n=${#list[@]}
  for r in $(seq "$ROUNDS"); do
    for qd in 1 32; do
      order=
      for i in $(seq 0 $((n - 1))); do order+="${list[$(( (i + r - 1) % n ))]} "; done
      for t in $order; do
        res=$(fio_run "${dev[$t]}" "$qd" "$RUNTIME")
        [ -n "$res" ] || { cat "$out/fio.err"; fail "fio on ${dev[$t]}"; }
        printf '%s\t%s\t%s\t%s\t%s\n' "$t" "$qd" "$r" ${res} >> "$out/results.tsv"
        say "round $r QD$qd $t: ${res% *} IOPS, mean ${res#* } us"
      done
    done
  done
  nbd-client -d /dev/nbd0 > /dev/null 2>&1 && connected=
  kill -TERM "$spid"
  wait "$spid"
  src=$?
  spid=
  [ "$src" -eq 0 ] || fail "server SIGTERM -> exit $src"
  say "done; server SIGTERM -> exit 0"
  exit 0
fi

# ------------------------------------------------------------------------------------------------------------
# Host side: scripts/ublk-check.sh's guest scaffolding, then the table.
# ------------------------------------------------------------------------------------------------------------
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SELF="$ROOT/bench/peer/$(basename "${BASH_SOURCE[0]}")"
# shellcheck source=../../scripts/ublk-check.sh
source "$ROOT/scripts/ublk-check.sh" --functions
start=$(date +%s)
load0=$(cut -d' ' -f1-3 /proc/loadavg)
need=()
has fio || need+=(fio)
has nbd-client || need+=(nbd-client)
guest_setup ublk.sh "${need[@]}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/blkmq-ublk-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/out"
echo "ublk.sh: publishing src/Blkmq.Cli (Release)"
guest_publish "$tmp" || exit 1
timeout=${UBLK_BENCH_TIMEOUT:-900}
echo "ublk.sh: booting the guest (timeout ${timeout}s): RUNTIME=${RUNTIME}s ROUNDS=$ROUNDS WARMUP=${WARMUP}s"
export BLKMQ_PUB="$tmp/pub" BLKMQ_OUT="$tmp/out" RUNTIME ROUNDS WARMUP
set +e
guest_run "$timeout" "$tmp/out" "bash $(printf %q "$SELF") --in-guest" | sed 's/^/  /'
rc=${PIPESTATUS[0]}
set -e
total=$(( $(date +%s) - start ))
if [ "$rc" -ne 0 ] || [ ! -s "$tmp/out/results.tsv" ]; then
  for log in server.log fio.err; do [ -s "$tmp/out/$log" ] && { echo "---- $log"; tail -20 "$tmp/out/$log"; }; done
  echo "ublk.sh: FAIL (guest exit $rc, ${total}s)"
  exit 1
fi
[ -z "${RAW:-}" ] || cp "$tmp/out/results.tsv" "$RAW"

# median T QD FIELD (4 IOPS, 5 latency): the median over the rounds, or "-" without measurements.
median() {
  awk -F'\t' -v t="$1" -v q="$2" -v f="$3" '$1 == t && $2 == q { print $f }' "$tmp/out/results.tsv" | sort -g |
    awk '{ v[++n] = $1 } END { if (!n) print "-"; else print (n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2) }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f", a / b }'; }
accel=$(awk '/^accel/ { print $2 }' "$tmp/out/guest.txt")
if [ -e /dev/kvm ]; then kvm="/dev/kvm present but unusable: no vmx/svm"; else kvm="/dev/kvm absent"; fi
echo
echo "4 KiB randread, fio io_uring direct=1, ${RUNTIME}s per run, medians of $ROUNDS rounds (target order rotated), $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "host: $(nproc) CPUs, load average at start $load0, at end $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$accel" = KVM ]; then
  echo "guest: KVM"
else
  echo "guest: EMULATED (QEMU TCG, $kvm): every figure is far below real hardware; the ratios are only indicative"
fi
row() { printf '| %-49s | %9s | %11s | %9s |\n' "$@"; }
row target "QD1 IOPS" "QD1 mean µs" "QD32 IOPS"
dashes() { printf -- "-%.0s" $(seq "$1"); }
row "$(dashes 49)" "$(dashes 8):" "$(dashes 10):" "$(dashes 8):"
for t in ublk null_blk nbd; do
  case $t in
    ublk) label="/dev/ublkb0 (blkmq serve --ublk, null irqmode=0)" ;;
    null_blk) label="/dev/nullb0 (kernel null_blk, irqmode=0)" ;;
    nbd) label="/dev/nbd0 (kernel nbd-client -> blkmq serve)" ;;
  esac
  if [ "$t" = null_blk ] && grep -q '^no_null_blk' "$tmp/out/guest.txt"; then
    row "$label" "n/a" "n/a" "n/a"
    continue
  fi
  row "$label" "$(median $t 1 4 | awk '{ printf "%.0f", $1 }')" "$(median $t 1 5 | awk '{ printf "%.0f", $1 }')" \
    "$(median $t 32 4 | awk '{ printf "%.0f", $1 }')"
done
echo
echo "ublk / null_blk at QD32: $(ratio "$(median ublk 32 4)" "$(median null_blk 32 4)")  (target >= 0.8 on a KVM machine)"
echo "ublk / nbd at QD1:       $(ratio "$(median ublk 1 4)" "$(median nbd 1 4)")  (target >= 2)"
echo "ublk.sh: ${total}s"
