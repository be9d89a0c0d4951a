#!/usr/bin/env bash
# bench/peer/ab-file.sh: two builds of the file driver against each other and against fio, in-process, in the same run.
#
# Usage: bench/peer/ab-file.sh OLD_BLKMQ NEW_BLKMQ [TARGET]
#   OLD_BLKMQ, NEW_BLKMQ  paths of two built `blkmq` executables (e.g. a `dotnet publish` of another commit)
#   TARGET                a file or block device to read and write (default: a fresh 1 GiB file of random bytes in
#                         /var/tmp, removed on exit); its contents are overwritten by the write cases
#
# Each round runs every case with `blkmq bench --driver file:path=TARGET,direct=on,inline=MODE` for both builds
# and every inline mode, then fio's io_uring engine with --direct=1 on the same target; the table gives per-column
# medians, IOPS and CPU time per IO. This is how a change to the io_uring engine was judged on a noisy shared
# machine (file.sh compares one build against fio).
#
# Environment: ROUNDS (default 3), RUNTIME (seconds per run, default 2), CASES (default "randread:32 randwrite:32":
# rw:iodepth), MODES (default "auto 0 1"). Every process started here ends by itself.
set -euo pipefail

OLD="${1:?usage: ab-file.sh OLD_BLKMQ NEW_BLKMQ [TARGET]}"
NEW="${2:?usage: ab-file.sh OLD_BLKMQ NEW_BLKMQ [TARGET]}"
TARGET="${3:-}"
ROUNDS="${ROUNDS:-3}"
RUNTIME="${RUNTIME:-2}"
CASES="${CASES:-randread:32 randwrite:32}"
MODES="${MODES:-auto 0 1}"
export PATH="/usr/bin:/bin:/usr/sbin:/sbin:$PATH"
for tool in fio python3; do
  command -v "$tool" >/dev/null || { echo "ab-file.sh: $tool missing; run scripts/install-test-tools.sh" >&2; exit 2; }
done

WORK="$(mktemp -d /var/tmp/blkmq-ab-file.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
if [ -z "$TARGET" ]; then
  TARGET="$WORK/disk.img"
  fio --name=fill --filename="$TARGET" --size=1G --rw=write --bs=1M --direct=1 --ioengine=io_uring --iodepth=8 --output=/dev/null
fi
SIZE="$(python3 -c 'import os,sys; f=os.open(sys.argv[1], os.O_RDONLY); print(min(os.lseek(f, 0, 2), 1 << 30))' "$TARGET")"

RAW="$WORK/raw.tsv"
: >"$RAW"
for round in $(seq "$ROUNDS"); do
  for case in $CASES; do
    IFS=: read -r rw depth <<<"$case"
    echo "round $round: $rw qd$depth" >&2
    for build in old new; do
      exe="$OLD"; [ "$build" = new ] && exe="$NEW"
      for mode in $MODES; do
        "$exe" bench --driver "file:path=$TARGET,engine=io_uring,direct=on,queues=1,inline=$mode" --rw "$rw" --bs 4k \
          --iodepth "$depth" --runtime "$RUNTIME" --size "$SIZE" --output-format json >"$WORK/b.json"
        python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print("%s\t%s\t%f\t%f" % (sys.argv[2], sys.argv[3], j["iops"], j["cpu_ns_per_io"]))' \
          "$WORK/b.json" "$rw-qd$depth" "$build inline=$mode" >>"$RAW"
      done
    done
    fio --name=ab --filename="$TARGET" --size="$SIZE" --rw="$rw" --bs=4k --iodepth="$depth" --ioengine=io_uring --direct=1 \
      --time_based --runtime="$RUNTIME" --output-format=json --output="$WORK/f.json"
    python3 -c 'import json,sys; j=json.load(open(sys.argv[1]))["jobs"][0]; n=j["read"]["total_ios"]+j["write"]["total_ios"]
print("%s\tfio\t%f\t%f" % (sys.argv[2], j["read"]["iops"]+j["write"]["iops"], (j["usr_cpu"]+j["sys_cpu"])/100*j["elapsed"]*1e9/max(n,1)))' \
      "$WORK/f.json" "$rw-qd$depth" >>"$RAW"
  done
done

python3 - "$RAW" <<'EOF'
import collections, statistics, sys
runs = collections.defaultdict(list)
for line in open(sys.argv[1]):
    case, who, iops, cpu = line.rstrip("\n").split("\t")
    runs[(case, who)].append((float(iops), float(cpu)))
print("| case | who | IOPS (median) | per round | CPU ns per IO | / fio |")
print("| --- | --- | ---: | --- | ---: | ---: |")
for case in dict.fromkeys(c for c, _ in runs):
    fio = statistics.median(i for i, _ in runs[(case, "fio")])
    for (c, who), values in runs.items():
        if c != case:
            continue
        iops = statistics.median(i for i, _ in values)
        print("| %s | %s | %s | %s | %s | %.2fx |" % (case, who, f"{iops:,.0f}", " ".join(f"{i/1000:.0f}k" for i, _ in values),
              f"{statistics.median(c for _, c in values):,.0f}", iops / fio))
EOF
