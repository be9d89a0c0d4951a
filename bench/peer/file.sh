#!/usr/bin/env bash
# bench/peer/file.sh: the file driver (in-process, `blkmq bench --driver file:…`) against fio's io_uring engine on
# the same file, same run, same jobs: 4 KiB random read and random write at QD1 and QD32, 1 and 2 jobs, O_DIRECT on
# both sides (blkmq: engine=io_uring,direct=on; fio: --ioengine=io_uring --direct=1). Blkmq runs three times: with
# inline=auto (the default: the ring thread runs the continuations, watched by the completion runner), with
# inline=0 (the completion runner ends every IO) and with inline=1 (the ring thread runs every continuation and
# submits the next IO itself, as fio's loop does). All run back to back, in an order that rotates between ROUNDS
# rounds; the table gives medians and Blkmq's ratios to fio measured in the same rounds (target >= 0.9).
# With LOOP=1 the target is a loop device over a file on /dev/shm (tmpfs) instead of a file in DIR; it is detached
# on exit. Every process started here ends by itself; the work directory is removed on exit.
#
# Environment: DIR (where the test file lives, default /var/tmp: a real disk, not tmpfs), SIZE (default 1G),
# RUNTIME (seconds per job, default 3), ROUNDS (default 3), ENGINE (blkmq's engine, default io_uring), LOOP (0 or 1),
# BLKMQ (a built blkmq; default: build it), JOBS (a regular expression the job names must match, default all),
# EXTRA (parameters added to every blkmq run, e.g. ",spin=50"). About 4 minutes.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DIR="${DIR:-/var/tmp}"
SIZE="${SIZE:-1G}"
RUNTIME="${RUNTIME:-3}"
ROUNDS="${ROUNDS:-3}"
ENGINE="${ENGINE:-io_uring}"
JOBS="${JOBS:-.}"
EXTRA="${EXTRA:-}"
export PATH="/usr/bin:/bin:/usr/sbin:/sbin:$PATH"

for tool in fio python3; do
  command -v "$tool" >/dev/null || { echo "file.sh: $tool missing; run scripts/install-test-tools.sh" >&2; exit 2; }
done

LOOP="${LOOP:-0}"
if [ "$LOOP" = 1 ]; then DIR=/dev/shm; fi
WORK="$(mktemp -d "$DIR/blkmq-file-bench.XXXXXX")"
LOOPDEV=""
trap '[ -n "$LOOPDEV" ] && losetup --detach "$LOOPDEV"; rm -rf "$WORK"' EXIT

if [ -z "${BLKMQ:-}" ]; then
  echo "building blkmq (Release)..." >&2
  dotnet publish "$ROOT/src/Blkmq.Cli/Blkmq.Cli.csproj" -c Release -o "$WORK/cli" -v quiet -nologo >&2
  BLKMQ="$WORK/cli/blkmq"
fi

FILE="$WORK/disk.img"
echo "writing $SIZE of data to $FILE (no holes: every read reaches the disk)..." >&2
if [ "$LOOP" = 1 ]; then
  head -c "$(numfmt --from=iec "$SIZE")" /dev/urandom >"$FILE"
  LOOPDEV="$(losetup --find --show "$FILE")"
  FILE="$LOOPDEV"
  echo "target: $FILE (loop device over a tmpfs file)" >&2
else
  fio --name=fill --filename="$FILE" --size="$SIZE" --rw=write --bs=1M --direct=1 --ioengine=io_uring --iodepth=8 --output=/dev/null
fi

# name|rw|iodepth|numjobs
jobs=(
  "randread-qd1-1j|randread|1|1"
  "randread-qd32-1j|randread|32|1"
  "randread-qd32-2j|randread|32|2"
  "randwrite-qd1-1j|randwrite|1|1"
  "randwrite-qd32-1j|randwrite|32|1"
  "randwrite-qd32-2j|randwrite|32|2"
)

RAW="$WORK/raw.tsv"
: >"$RAW"
run_blkmq() { # name rw depth jobs [who extra-parameters]
  "$BLKMQ" bench --driver "file:path=$FILE,engine=$ENGINE,direct=on,queues=$4$EXTRA${6:-}" --rw "$2" --bs 4k --iodepth "$3" --numjobs "$4" \
    --runtime "$RUNTIME" --size "$SIZE" --output-format json >"$WORK/b.json"
  python3 -c 'import json,sys; j=json.load(open(sys.argv[2])); print("%s\t%s\t%f\t%s" % (sys.argv[1], sys.argv[3], j["iops"], j.get("alloc_bytes_per_io", "")))' "$1" "$WORK/b.json" "${5:-blkmq}" >>"$RAW"
}
run_auto() { run_blkmq "$1" "$2" "$3" "$4" blkmq ",inline=auto"; }
run_inline() { run_blkmq "$1" "$2" "$3" "$4" blkmq-inline ",inline=1"; }
run_off() { run_blkmq "$1" "$2" "$3" "$4" blkmq-off ",inline=0"; }
run_fio() { # name rw depth jobs
  fio --name="$1" --filename="$FILE" --size="$SIZE" --rw="$2" --bs=4k --iodepth="$3" --numjobs="$4" --group_reporting \
    --ioengine=io_uring --direct=1 --time_based --runtime="$RUNTIME" --ramp_time=0.5 --output-format=json --output="$WORK/f.json"
  python3 -c 'import json,sys; j=json.load(open(sys.argv[2]))["jobs"][0]; print("%s\tfio\t%f\t" % (sys.argv[1], j["read"]["iops"] + j["write"]["iops"]))' "$1" "$WORK/f.json" >>"$RAW"
}

for round in $(seq "$ROUNDS"); do
  for job in "${jobs[@]}"; do
    IFS='|' read -r name rw depth numjobs <<<"$job"
    [[ "$name" =~ $JOBS ]] || continue
    echo "round $round: $name" >&2
    runners=(run_auto run_off run_inline run_fio)
    for k in 0 1 2 3; do
      "${runners[$(((round + k) % 4))]}" "$name" "$rw" "$depth" "$numjobs"
    done
  done
done

python3 - "$RAW" <<'PY'
import statistics, sys, collections
rows = collections.defaultdict(lambda: collections.defaultdict(list))
order = []
alloc = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, who, iops, per_io = line.rstrip("\n").split("\t")
    if name not in order:
        order.append(name)
    rows[name][who].append(float(iops))
    if per_io:
        alloc[who].append(float(per_io))
print("| job | inline=auto, the default (IOPS) | inline=0 (IOPS) | inline=1 (IOPS) | fio io_uring (IOPS) | auto / fio | inline=0 / fio | inline=1 / fio |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for name in order:
    b, o, i, f = (statistics.median(rows[name][who]) for who in ("blkmq", "blkmq-off", "blkmq-inline", "fio"))
    print(f"| {name} | {b:,.0f} | {o:,.0f} | {i:,.0f} | {f:,.0f} | {b / f:.2f}x | {o / f:.2f}x | {i / f:.2f}x |")
print()
print("per round, inline=auto / fio (the spread says how noisy the run was):")
for name in order:
    pairs = zip(rows[name]["blkmq"], rows[name]["fio"])
    print(f"  {name}: " + " ".join(f"{b / f:.2f}" for b, f in pairs))
print()
for who, values in alloc.items():
    print(f"{who}: at most {max(values):.3f} bytes allocated per IO (blkmq bench's own figure, whole run)")
PY
