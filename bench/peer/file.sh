#!/usr/bin/env bash
# bench/peer/file.sh: the file driver (in-process, `blkmq bench --driver file:…`) against fio's io_uring engine on
# the same file, same run, same jobs: 4 KiB random read and random write at QD1 and QD32, 1 and 2 jobs, O_DIRECT on
# both sides (blkmq: engine=io_uring,direct=on; fio: --ioengine=io_uring --direct=1). The two run back to back, in
# an order that alternates between ROUNDS rounds; the table gives medians and Blkmq's ratio to fio (target >= 0.9).
# Every process started here ends by itself; the work directory is removed on exit.
#
# Environment: DIR (where the test file lives, default /var/tmp: a real disk, not tmpfs), SIZE (default 1G),
# RUNTIME (seconds per job, default 3), ROUNDS (default 3), ENGINE (blkmq's engine, default io_uring), BLKMQ (a built
# blkmq; default: build it). About 2 minutes.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DIR="${DIR:-/var/tmp}"
SIZE="${SIZE:-1G}"
RUNTIME="${RUNTIME:-3}"
ROUNDS="${ROUNDS:-3}"
ENGINE="${ENGINE:-io_uring}"
export PATH="/usr/bin:/bin:/usr/sbin:/sbin:$PATH"

for tool in fio python3; do
  command -v "$tool" >/dev/null || { echo "file.sh: $tool missing; run scripts/install-test-tools.sh" >&2; exit 2; }
done

WORK="$(mktemp -d "$DIR/blkmq-file-bench.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

if [ -z "${BLKMQ:-}" ]; then
  echo "building blkmq (Release)..." >&2
  dotnet publish "$ROOT/src/Blkmq.Cli/Blkmq.Cli.csproj" -c Release -o "$WORK/cli" -v quiet -nologo >&2
  BLKMQ="$WORK/cli/blkmq"
fi

FILE="$WORK/disk.img"
echo "writing $SIZE of data to $FILE (no holes: every read reaches the disk)..." >&2
fio --name=fill --filename="$FILE" --size="$SIZE" --rw=write --bs=1M --direct=1 --ioengine=io_uring --iodepth=8 --output=/dev/null

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
run_blkmq() { # name rw depth jobs
  "$BLKMQ" bench --driver "file:path=$FILE,engine=$ENGINE,direct=on,queues=$4" --rw "$2" --bs 4k --iodepth "$3" --numjobs "$4" \
    --runtime "$RUNTIME" --size "$SIZE" --output-format json >"$WORK/b.json"
  python3 -c 'import json,sys; print("%s\tblkmq\t%f" % (sys.argv[1], json.load(open(sys.argv[2]))["iops"]))' "$1" "$WORK/b.json" >>"$RAW"
}
run_fio() { # name rw depth jobs
  fio --name="$1" --filename="$FILE" --size="$SIZE" --rw="$2" --bs=4k --iodepth="$3" --numjobs="$4" --group_reporting \
    --ioengine=io_uring --direct=1 --time_based --runtime="$RUNTIME" --ramp_time=0.5 --output-format=json --output="$WORK/f.json"
  python3 -c 'import json,sys; j=json.load(open(sys.argv[2]))["jobs"][0]; print("%s\tfio\t%f" % (sys.argv[1], j["read"]["iops"] + j["write"]["iops"]))' "$1" "$WORK/f.json" >>"$RAW"
}

for round in $(seq "$ROUNDS"); do
  for job in "${jobs[@]}"; do
    IFS='|' read -r name rw depth numjobs <<<"$job"
    echo "round $round: $name" >&2
    if [ $((round % 2)) -eq 1 ]; then
      run_blkmq "$name" "$rw" "$depth" "$numjobs"; run_fio "$name" "$rw" "$depth" "$numjobs"
    else
      run_fio "$name" "$rw" "$depth" "$numjobs"; run_blkmq "$name" "$rw" "$depth" "$numjobs"
    fi
  done
done

python3 - "$RAW" <<'PY'
import statistics, sys, collections
rows = collections.defaultdict(lambda: collections.defaultdict(list))
order = []
for line in open(sys.argv[1]):
    name, who, iops = line.split("\t")
    if name not in order:
        order.append(name)
    rows[name][who].append(float(iops))
print("| job | blkmq file (IOPS) | fio io_uring (IOPS) | ratio |")
print("| --- | ---: | ---: | ---: |")
for name in order:
    b = statistics.median(rows[name]["blkmq"]); f = statistics.median(rows[name]["fio"])
    print(f"| {name} | {b:,.0f} | {f:,.0f} | {b / f:.2f}x |")
PY
