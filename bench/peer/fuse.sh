#!/usr/bin/env bash
# bench/peer/fuse.sh: the Blkmq FUSE export against the FUSE exports of nbdfuse and qemu-storage-daemon, side by side,
# with the same fio jobs on the file each one serves:
#
#   blkmq   blkmq serve --listen none --fuse DIR  (memory export, irqmode=0)
#   nbdfuse nbdfuse DIR/disk over nbdkit memory on a Unix socket
#   qsd     qemu-storage-daemon --export type=fuse over a file on tmpfs (its file driver)
#
# and, as a kernel reference without FUSE, the same jobs on a file on tmpfs (buffered: tmpfs has no page cache to
# bypass). fio runs psync jobs with O_DIRECT on the FUSE files (every IO reaches the server): 4 KiB random read and
# write at 1 job and 4 jobs, 1 MiB sequential read and write. All servers run at once; every job runs on each back
# to back, in an order that alternates between ROUNDS rounds; the table gives medians and Blkmq's ratio to each peer.
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

for tool in fio nbdkit nbdfuse fusermount3 qemu-storage-daemon /usr/bin/python3; do
  command -v "$tool" >/dev/null || { echo "fuse.sh: $tool missing; run scripts/install-test-tools.sh" >&2; exit 2; }
done
[ "$(id -u)" -eq 0 ] || { echo "fuse.sh: mounting FUSE needs root" >&2; exit 2; }

WORK="$(mktemp -d /tmp/blkmq-fuse-bench.XXXXXX)"
declare -a pids=()
cleanup() {
  for dir in "$WORK/blkmq" "$WORK/nbdfuse" "$WORK/qsd.img"; do
    mountpoint -q "$dir" 2>/dev/null && { fusermount3 -u "$dir" 2>/dev/null || umount -l "$dir" 2>/dev/null || true; }
  done
  for p in "${pids[@]}"; do
    if kill -0 "$p" 2>/dev/null; then kill -TERM "$p"; wait "$p" 2>/dev/null || true; fi
  done
  umount -l "$WORK/tmpfs" 2>/dev/null || true
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

# blkmq: its own FUSE export of a memory disk.
mkdir -p "$WORK/blkmq"
"$BLKMQ" serve --listen none --fuse "$WORK/blkmq" --export "disk=memory:size=$SIZE,irqmode=0" >"$WORK/blkmq.out" 2>"$WORK/blkmq.err" &
pids+=($!)
wait_for "$WORK/blkmq/disk"

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

declare -A file=([blkmq]="$WORK/blkmq/disk" [nbdfuse]="$WORK/nbdfuse/disk" [qsd]="$WORK/qsd.img" [tmpfs]="$WORK/tmpfs/reference.img")
servers="blkmq nbdfuse qsd tmpfs"

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

RESULTS="$WORK/results.tsv"
: >"$RESULTS"
cases=("randread 4k 1" "randwrite 4k 1" "randread 4k 4" "randwrite 4k 4" "read 1M 1" "write 1M 1")
for round in $(seq "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then order="$servers"; else order="tmpfs qsd nbdfuse blkmq"; fi
  echo "== round $round" >&2
  for c in "${cases[@]}"; do
    read -r rw bs jobs <<<"$c"
    unit=IOPS; [ "$bs" = 1M ] && unit=MiB/s
    for s in $order; do
      printf '%s\t%s\t%s\t%s\n' "$round" "$bs $rw x$jobs ($unit)" "$s" "$(run_fio "$s" "$rw" "$bs" "$jobs")" >>"$RESULTS"
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
print(f"{'test':<26} {'blkmq':>9} {'nbdfuse':>9} {'qsd':>9} {'tmpfs':>9}  {'/nbdfuse':>8} {'/qsd':>6}")
for test, v in rows.items():
    b, n, q, t = (med(v.get(s, [])) for s in ("blkmq", "nbdfuse", "qsd", "tmpfs"))
    rn = f"{b / n:.2f}" if n else "-"
    rq = f"{b / q:.2f}" if q else "-"
    print(f"{test:<26} {b:>9.0f} {n:>9.0f} {q:>9.0f} {t:>9.0f}  {rn:>8} {rq:>6}")
print(f"values: medians of {sys.argv[2]} rounds; ratios = Blkmq / peer (higher is better for Blkmq); tmpfs: the kernel")
print("alone, buffered, no FUSE (a reference, not a peer). FUSE files with O_DIRECT; psync, one IO in flight per job.")
PY
