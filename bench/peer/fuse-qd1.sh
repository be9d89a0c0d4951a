#!/usr/bin/env bash
# bench/peer/fuse-qd1.sh: where a queue-depth-1 request's time goes on the Blkmq FUSE export, loop case only (the
# loop rows of fuse.sh, measured more often and in more detail). Each export serves a memory disk (irqmode=0); its file
# is attached with losetup --direct-io=on and fio io_uring --direct=1 runs 4 KiB randread and randwrite at DEPTHS on
# the /dev/loopN:
#
#   dev      blkmq serve --fuse-uring off: the /dev/fuse workers
#   uring    blkmq serve --fuse-uring on: FUSE over io_uring (enable_uring turned on for the run, restored after)
#   base-*   the same two of a second build (BASE=path/to/blkmq), to compare two builds in the same run
#   tmpfs    the kernel loop device on a tmpfs file, the reference without FUSE
#
# Per case: IOPS, fio's median total latency (p50: submission to completion; not clat, which starts after the submitting
# io_uring_enter returns and so misses an IO that the server and the loop device finished while fio was preempted in
# it, common when they run on fio's CPU), and the server's CPU time per IO (on-CPU ns of all its
# threads from /proc/PID/task/*/schedstat, divided by the IOs fio did; not affected by how busy the rest of the machine
# is, unlike IOPS). Every case runs on each variant back to back, in an order that reverses every round; the table
# gives medians of ROUNDS rounds and the ratios against dev of the same build. Needs root. Processes started here are
# stopped by their pid; loop devices and mounts are undone on exit.
#
# Environment: SIZE (default 256M), RUNTIME (seconds per fio job, default 3), ROUNDS (default 7), DEPTHS (default
# "1"; "1 32" adds QD32), BLKMQ (a built blkmq; default: build it), BASE (optional second build), RAW (keep the TSV).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SIZE="${SIZE:-256M}"
RUNTIME="${RUNTIME:-3}"
ROUNDS="${ROUNDS:-7}"
DEPTHS="${DEPTHS:-1}"
export PATH="/usr/bin:/bin:/usr/sbin:/sbin:$PATH"

for tool in fio losetup /usr/bin/python3; do
  command -v "$tool" >/dev/null || { echo "fuse-qd1.sh: $tool missing; run scripts/install-test-tools.sh" >&2; exit 2; }
done
[ "$(id -u)" -eq 0 ] || { echo "fuse-qd1.sh: mounting FUSE needs root" >&2; exit 2; }

WORK="$(mktemp -d /tmp/blkmq-fuse-qd1.XXXXXX)"
URING_PARAM=/sys/module/fuse/parameters/enable_uring
URING_WAS="$(cat "$URING_PARAM" 2>/dev/null || echo none)"
[ "$URING_WAS" = none ] && { echo "fuse-qd1.sh: this kernel has no FUSE over io_uring ($URING_PARAM)" >&2; exit 2; }
declare -a loops=()
declare -A pid=() loop=()
cleanup() {
  for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
  for p in "${pid[@]}"; do
    if kill -0 "$p" 2>/dev/null; then kill -TERM "$p"; wait "$p" 2>/dev/null || true; fi
  done
  for dir in "$WORK"/m-*; do mountpoint -q "$dir" 2>/dev/null && { umount -l "$dir" 2>/dev/null || true; }; done
  umount -l "$WORK/tmpfs" 2>/dev/null || true
  echo "$URING_WAS" >"$URING_PARAM"
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ -z "${BLKMQ:-}" ]; then
  echo "building blkmq (Release)..." >&2
  dotnet publish "$ROOT/src/Blkmq.Cli/Blkmq.Cli.csproj" -c Release -o "$WORK/cli" -v quiet -nologo >&2
  BLKMQ="$WORK/cli/blkmq"
fi

bytes=$(numfmt --from=iec "$SIZE")
echo Y >"$URING_PARAM"

# serve NAME BINARY MODE: a memory export at $WORK/m-NAME/disk, filled once, attached to a loop device.
serve() {
  local dir="$WORK/m-$1"
  mkdir -p "$dir"
  "$2" serve --listen none --fuse "$dir" --fuse-uring "$3" --export "disk=memory:size=$SIZE,irqmode=0" >"$WORK/$1.out" 2>"$WORK/$1.err" &
  pid[$1]=$!
  for _ in $(seq 100); do [ "$(stat -c %s "$dir/disk" 2>/dev/null)" = "$bytes" ] && break; sleep 0.1; done
  for _ in $(seq 100); do grep -q "FUSE transport:" "$WORK/$1.err" && break; sleep 0.1; done
  [ "$3" = off ] || grep -q "FUSE transport: io_uring" "$WORK/$1.err" || { echo "fuse-qd1.sh: $1 does not run over io_uring:" >&2; cat "$WORK/$1.err" >&2; exit 1; }
  fio --name=fill --filename="$dir/disk" --rw=write --bs=1M --size="$SIZE" --ioengine=psync --direct=1 >/dev/null
  loop[$1]="$(losetup --find --show --direct-io=on "$dir/disk")"
  loops+=("${loop[$1]}")
}

variants="dev uring"
serve dev "$BLKMQ" off
serve uring "$BLKMQ" on
if [ -n "${BASE:-}" ]; then
  serve base-dev "$BASE" off
  serve base-uring "$BASE" on
  variants="$variants base-dev base-uring"
fi
mkdir -p "$WORK/tmpfs"
mount -t tmpfs -o size=$((bytes + (64 << 20))) tmpfs "$WORK/tmpfs"
truncate -s "$SIZE" "$WORK/tmpfs/reference.img"
fio --name=fill --filename="$WORK/tmpfs/reference.img" --rw=write --bs=1M --size="$SIZE" --ioengine=psync >/dev/null
loop[tmpfs]="$(losetup --find --show --direct-io=on "$WORK/tmpfs/reference.img")"
loops+=("${loop[tmpfs]}")
variants="$variants tmpfs"

# cpu_ns VARIANT: on-CPU nanoseconds of all the server's threads so far (0 for tmpfs: no server).
cpu_ns() {
  [ "$1" = tmpfs ] && { echo 0; return; }
  cat /proc/"${pid[$1]}"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f\n", s}'
}

# run VARIANT RW DEPTH: "IOPS p50_ns cpu_ns_per_io"
run() {
  local before after
  before=$(cpu_ns "$1")
  fio --name=loop --filename="${loop[$1]}" --rw="$2" --bs=4k --iodepth="$3" --ioengine=io_uring --direct=1 --lat_percentiles=1 \
    --time_based --runtime="$RUNTIME" --ramp_time=1 --size="$SIZE" \
    --output-format=json --output="$WORK/fio.json" >/dev/null 2>"$WORK/fio.err" || { cat "$WORK/fio.err" >&2; echo "0 0 0"; return; }
  after=$(cpu_ns "$1")
  /usr/bin/python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
d = j["read"] if j["read"]["iops"] > 0 else j["write"]
ios = d["total_ios"] or 1
ramp = float(sys.argv[4]) / (float(sys.argv[4]) + 1)  # the CPU time covers the ramp second too
print(round(d["iops"]), d["lat_ns"]["percentile"]["50.000000"], round((int(sys.argv[3]) - int(sys.argv[2])) * ramp / ios))' \
    "$WORK/fio.json" "$before" "$after" "$RUNTIME"
}

RESULTS="$WORK/results.tsv"
: >"$RESULTS"
for round in $(seq "$ROUNDS"); do
  order="$variants"
  [ $((round % 2)) = 0 ] && order="$(echo "$variants" | tr ' ' '\n' | tac | tr '\n' ' ')"
  echo "== round $round" >&2
  for depth in $DEPTHS; do
    for rw in randread randwrite; do
      for v in $order; do
        printf '%s\t%s\t%s\t%s\n' "$round" "loop 4k $rw QD$depth" "$v" "$(run "$v" "$rw" "$depth" | tr ' ' '\t')" >>"$RESULTS"
      done
    done
  done
done

if [ -n "${RAW:-}" ]; then cp "$RESULTS" "$RAW"; fi
/usr/bin/python3 - "$RESULTS" "$ROUNDS" "$variants" <<'PY'
import sys, collections, statistics
rows = collections.OrderedDict()
for line in open(sys.argv[1]):
    rnd, test, v, iops, p50, cpu = line.rstrip("\n").split("\t")
    rows.setdefault(test, {}).setdefault(v, []).append((float(iops), float(p50), float(cpu)))
variants = sys.argv[3].split()
med = lambda xs, i: statistics.median(x[i] for x in xs) if xs else 0
print(f"{'test':<24} {'variant':<11} {'IOPS':>8} {'p50 us':>7} {'CPU us/IO':>10}  {'IOPS/dev':>8} {'p50 dev/':>8}")
for test, byv in rows.items():
    for v in variants:
        xs = byv.get(v, [])
        dev = byv.get("base-dev" if v.startswith("base-") else "dev", [])
        i, p, c = med(xs, 0), med(xs, 1), med(xs, 2)
        di, dp = med(dev, 0), med(dev, 1)
        print(f"{test:<24} {v:<11} {i:>8.0f} {p / 1000:>7.1f} {c / 1000:>10.2f}  {i / di if di else 0:>8.2f} {dp / p if p else 0:>8.2f}")
print(f"medians of {sys.argv[2]} rounds. dev: /dev/fuse transport; uring: FUSE over io_uring; base-*: the BASE build;")
print("tmpfs: the kernel loop device on a tmpfs file. p50: fio's median total latency (lat, not clat). CPU us/IO: on-CPU time of")
print("all the server's threads per IO. IOPS/dev and p50 dev/: against the /dev/fuse transport of the same build.")
PY
