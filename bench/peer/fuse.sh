#!/usr/bin/env bash
# bench/peer/fuse.sh: the Blkmq FUSE export against the FUSE exports of nbdfuse and qemu-storage-daemon, side by side,
# with the same fio jobs on the file each one serves:
#
#   blkmq   blkmq serve --listen none --fuse DIR --fuse-uring off  (memory export, irqmode=0; /dev/fuse workers)
#   uring   the same with --fuse-uring on: FUSE over io_uring (enable_uring turned on for the run, restored after)
#   nbdfuse nbdfuse DIR/disk over nbdkit memory on a Unix socket
#   qsd     qemu-storage-daemon --export type=fuse over a file on tmpfs (its file driver)
#
# and, as a kernel reference without FUSE, the same jobs on a file on tmpfs (buffered: tmpfs has no page cache to
# bypass). fio runs psync jobs with O_DIRECT on the FUSE files (every IO reaches the server): 4 KiB random read and
# write at 1 job and 4 jobs, 1 MiB sequential read and write. Then the loop cases: each FUSE file (and the tmpfs file:
# the kernel loop device on tmpfs, the reference) attached with losetup --direct-io=on, fio io_uring --direct=1 on the
# /dev/loopN, 4 KiB randread and randwrite at QD1 and QD32. All servers run at once; every job runs on each back
# to back, in an order that alternates between ROUNDS rounds; the table gives medians and Blkmq's ratios.
# Needs root (FUSE mounts). Every process started here is stopped by its pid; mounts are undone on exit.
#
# Environment: SIZE (default 1G), RUNTIME (seconds per fio job, default 3), ROUNDS (default 3), BLKMQ (a built
# blkmq; default: build it), RAW (a file to keep every measurement in, as TSV). About 6 minutes.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SIZE="${SIZE:-1G}"
RUNTIME="${RUNTIME:-3}"
ROUNDS="${ROUNDS:-3}"
export PATH="/usr/bin:/bin:/usr/sbin:/sbin:$PATH"

for tool in fio nbdkit nbdfuse fusermount3 qemu-storage-daemon losetup /usr/bin/python3; do
  command -v "$tool" >/dev/null || { echo "fuse.sh: $tool missing; run scripts/install-test-tools.sh" >&2; exit 2; }
done
[ "$(id -u)" -eq 0 ] || { echo "fuse.sh: mounting FUSE needs root" >&2; exit 2; }

WORK="$(mktemp -d /tmp/blkmq-fuse-bench.XXXXXX)"
URING_PARAM=/sys/module/fuse/parameters/enable_uring
URING_WAS="$(cat "$URING_PARAM" 2>/dev/null || echo none)"
declare -a pids=()
declare -a loops=()
cleanup() {
  for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
  for dir in "$WORK/blkmq" "$WORK/uring" "$WORK/nbdfuse" "$WORK/qsd.img"; do
    mountpoint -q "$dir" 2>/dev/null && { fusermount3 -u "$dir" 2>/dev/null || umount -l "$dir" 2>/dev/null || true; }
  done
  for p in "${pids[@]}"; do
    if kill -0 "$p" 2>/dev/null; then kill -TERM "$p"; wait "$p" 2>/dev/null || true; fi
  done
  umount -l "$WORK/tmpfs" 2>/dev/null || true
  [ "$URING_WAS" = none ] || echo "$URING_WAS" >"$URING_PARAM"
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ -z "${BLKMQ:-}" ]; then
  echo "building blkmq (Release)..." >&2
  dotnet publish "$ROOT/src/Blkmq.Cli/Blkmq.Cli.csproj" -c Release -o "$WORK/cli" -v quiet -nologo >&2
  BLKMQ="$WORK/cli/blkmq"
fi

bytes=$(numfmt --from=iec "$SIZE")
wait_for() { for _ in $(seq 100); do [ -e "$1" ] && [ "$(stat -c %s "$1" 2>/dev/null)" = "$bytes" ] && return 0; sleep 0.1; done; echo "fuse.sh: $1 did not appear" >&2; exit 1; }

# blkmq: its own FUSE export of a memory disk, through /dev/fuse and over io_uring.
mkdir -p "$WORK/blkmq" "$WORK/uring"
"$BLKMQ" serve --listen none --fuse "$WORK/blkmq" --fuse-uring off --export "disk=memory:size=$SIZE,irqmode=0" >"$WORK/blkmq.out" 2>"$WORK/blkmq.err" &
pids+=($!)
wait_for "$WORK/blkmq/disk"
[ "$URING_WAS" = none ] && { echo "fuse.sh: this kernel has no FUSE over io_uring ($URING_PARAM)" >&2; exit 2; }
echo Y >"$URING_PARAM"
"$BLKMQ" serve --listen none --fuse "$WORK/uring" --fuse-uring on --export "disk=memory:size=$SIZE,irqmode=0" >"$WORK/uring.out" 2>"$WORK/uring.err" &
pids+=($!)
wait_for "$WORK/uring/disk"
grep -q "FUSE transport: io_uring" "$WORK/uring.err" || { echo "fuse.sh: the io_uring export does not run over io_uring:" >&2; cat "$WORK/uring.err" >&2; exit 1; }

# nbdfuse over nbdkit's memory plugin on a Unix socket.
nbdkit -f -U "$WORK/nbdkit.sock" memory "$SIZE" &
pids+=($!)
for _ in $(seq 100); do [ -S "$WORK/nbdkit.sock" ] && break; sleep 0.1; done
mkdir -p "$WORK/nbdfuse"
nbdfuse "$WORK/nbdfuse/disk" "nbd+unix:///?socket=$WORK/nbdkit.sock" &
pids+=($!)
wait_for "$WORK/nbdfuse/disk"

# qemu-storage-daemon's FUSE export of a file on tmpfs; the same tmpfs holds the kernel reference file.
mkdir -p "$WORK/tmpfs"
mount -t tmpfs -o size=$((2 * bytes + (64 << 20))) tmpfs "$WORK/tmpfs"
truncate -s "$SIZE" "$WORK/tmpfs/qsd-backing.img" "$WORK/tmpfs/reference.img"
touch "$WORK/qsd.img"
qemu-storage-daemon --blockdev "driver=file,node-name=f0,filename=$WORK/tmpfs/qsd-backing.img,cache.direct=off" \
  --export "type=fuse,id=e0,node-name=f0,mountpoint=$WORK/qsd.img,writable=on" &
pids+=($!)
wait_for "$WORK/qsd.img"

declare -A file=([blkmq]="$WORK/blkmq/disk" [uring]="$WORK/uring/disk" [nbdfuse]="$WORK/nbdfuse/disk" [qsd]="$WORK/qsd.img" [tmpfs]="$WORK/tmpfs/reference.img")
servers="blkmq uring nbdfuse qsd tmpfs"

# Every file is filled once first (memory exports allocate on first write; reads of holes would flatter them).
for s in $servers; do
  fio --name=fill --filename="${file[$s]}" --rw=write --bs=1M --size="$SIZE" --ioengine=psync --end_fsync=1 >/dev/null
done

# run_fio SERVER RW BS JOBS: IOPS (4k) or MiB/s (1M), summed over jobs.
run_fio() {
  local direct=1
  [ "$1" = tmpfs ] && direct=0
  fio --name=bench --filename="${file[$1]}" --rw="$2" --bs="$3" --numjobs="$4" --ioengine=psync --direct="$direct" \
    --time_based --runtime="$RUNTIME" --ramp_time=1 --size="$SIZE" --group_reporting \
    --output-format=json --output="$WORK/fio.json" >/dev/null 2>"$WORK/fio.err" || { cat "$WORK/fio.err" >&2; echo 0; return; }
  /usr/bin/python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
iops = j["read"]["iops"] + j["write"]["iops"]
bw = (j["read"]["bw_bytes"] + j["write"]["bw_bytes"]) / 1048576
print(round(bw if sys.argv[2] == "1M" else iops))' "$WORK/fio.json" "$3"
}

# The loop devices: every FUSE file but qsd's (and the tmpfs file, the kernel's own loop reference), direct IO.
declare -A loop=()
loop_servers="blkmq uring nbdfuse tmpfs"
for s in $loop_servers; do
  loop[$s]="$(losetup --find --show --direct-io=on "${file[$s]}")"
  loops+=("${loop[$s]}")
done

# run_loop SERVER RW DEPTH: IOPS of fio io_uring --direct=1, 4 KiB, on the loop device of SERVER.
run_loop() {
  fio --name=loop --filename="${loop[$1]}" --rw="$2" --bs=4k --iodepth="$3" --ioengine=io_uring --direct=1 \
    --time_based --runtime="$RUNTIME" --ramp_time=1 --size="$SIZE" \
    --output-format=json --output="$WORK/fio.json" >/dev/null 2>"$WORK/fio.err" || { cat "$WORK/fio.err" >&2; echo 0; return; }
  /usr/bin/python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
print(round(j["read"]["iops"] + j["write"]["iops"]))' "$WORK/fio.json"
}

RESULTS="$WORK/results.tsv"
: >"$RESULTS"
cases=("randread 4k 1" "randwrite 4k 1" "randread 4k 4" "randwrite 4k 4" "read 1M 1" "write 1M 1")
loop_cases=("randread 1" "randwrite 1" "randread 32" "randwrite 32")
for round in $(seq "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then order="$servers"; lorder="$loop_servers"; else order="tmpfs qsd nbdfuse uring blkmq"; lorder="tmpfs nbdfuse uring blkmq"; fi
  echo "== round $round" >&2
  for c in "${cases[@]}"; do
    read -r rw bs jobs <<<"$c"
    unit=IOPS; [ "$bs" = 1M ] && unit=MiB/s
    for s in $order; do
      printf '%s\t%s\t%s\t%s\n' "$round" "$bs $rw x$jobs ($unit)" "$s" "$(run_fio "$s" "$rw" "$bs" "$jobs")" >>"$RESULTS"
    done
  done
  for c in "${loop_cases[@]}"; do
    read -r rw depth <<<"$c"
    for s in $lorder; do
      printf '%s\t%s\t%s\t%s\n' "$round" "loop 4k $rw QD$depth" "$s" "$(run_loop "$s" "$rw" "$depth")" >>"$RESULTS"
    done
  done
done

if [ -n "${RAW:-}" ]; then cp "$RESULTS" "$RAW"; fi
/usr/bin/python3 - "$RESULTS" "$ROUNDS" <<'PY'
import sys, collections, statistics
rows = collections.OrderedDict()
for line in open(sys.argv[1]):
    rnd, test, server, value = line.rstrip("\n").split("\t")
    rows.setdefault(test, {}).setdefault(server, []).append(float(value))
med = lambda v: statistics.median(v) if v else 0
ratio = lambda a, b: f"{a / b:.2f}" if b else "-"
print(f"{'test':<26} {'blkmq':>9} {'uring':>9} {'nbdfuse':>9} {'qsd':>9} {'tmpfs':>9}  {'uring/blkmq':>11} {'uring/nbdfuse':>13} {'uring/tmpfs':>11} {'blkmq/tmpfs':>11}")
for test, v in rows.items():
    b, u, n, q, t = (med(v.get(s, [])) for s in ("blkmq", "uring", "nbdfuse", "qsd", "tmpfs"))
    print(f"{test:<26} {b:>9.0f} {u:>9.0f} {n:>9.0f} {q:>9.0f} {t:>9.0f}  {ratio(u, b):>11} {ratio(u, n):>13} {ratio(u, t):>11} {ratio(b, t):>11}")
print(f"values: medians of {sys.argv[2]} rounds. blkmq: /dev/fuse transport; uring: FUSE over io_uring. tmpfs: the kernel")
print("alone (file rows: buffered, no FUSE; loop rows: the kernel loop device on a tmpfs file), a reference, not a peer.")
print("File rows: FUSE files with O_DIRECT, psync, one IO in flight per job. Loop rows: losetup --direct-io=on, fio")
print("io_uring --direct=1 at the queue depth shown.")
PY
