#!/usr/bin/env bash
# bench/peer/rbd-pairs.sh: in-process RBD against fio's rbd engine in tight pairs, for figures that a drifting OSD
# (memstore slows as it is written) spoils in bench/peer/rbd.sh. Each pair runs `fio --ioengine=rbd` and
# `blkmq bench --driver rbd:...` for RUNTIME seconds each, back to back, on the same image, the order alternating
# from pair to pair; it prints every pair and the median ratio, overall and by which tool went first.
#
# Environment: CEPH_CONF (an existing cluster; default: a fresh one from scripts/ceph-cluster.sh in a temporary
# directory under BASE, default /tmp), STORE (memstore or bluestore, for that fresh cluster), RW (randwrite), DEPTH
# (1), PAIRS (8), RUNTIME (2), SIZE (256M), BLKMQ (a built blkmq; default: build it). Every process started here is
# stopped by its pid.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RW="${RW:-randwrite}"
DEPTH="${DEPTH:-1}"
PAIRS="${PAIRS:-8}"
RUNTIME="${RUNTIME:-2}"
SIZE="${SIZE:-256M}"
export PATH="/usr/bin:/bin:/usr/sbin:/sbin:$PATH"
for tool in fio rbd python3; do
  command -v "$tool" >/dev/null || { echo "rbd-pairs.sh: $tool missing; run scripts/install-test-tools.sh" >&2; exit 2; }
done

WORK="$(mktemp -d "${BASE:-/tmp}/blkmq-rbd-pairs.XXXXXX")"
CLUSTER=""
cleanup() {
  if [ -n "$CLUSTER" ]; then "$ROOT/scripts/ceph-cluster.sh" stop "$CLUSTER" >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ -z "${CEPH_CONF:-}" ]; then
  CLUSTER="$WORK/ceph"
  CEPH_CONF="$("$ROOT/scripts/ceph-cluster.sh" start "$CLUSTER" "${STORE:-memstore}")"
fi
export CEPH_CONF

if [ -z "${BLKMQ:-}" ]; then
  echo "building blkmq (Release)..." >&2
  dotnet publish "$ROOT/src/Blkmq.Cli/Blkmq.Cli.csproj" -c Release -o "$WORK/cli" -v quiet -nologo >&2
  BLKMQ="$WORK/cli/blkmq"
fi

IMAGE="pairs-$$"
rbd create --size "$SIZE" "rbd/$IMAGE"
rbd bench --io-type write --io-size 4M --io-threads 4 --io-total "$SIZE" --io-pattern seq "rbd/$IMAGE" >/dev/null

fio_iops() {
  fio --name=j --ioengine=rbd --clientname=admin --pool=rbd --rbdname="$IMAGE" --rw="$RW" --bs=4k --iodepth="$DEPTH" \
    --time_based --runtime="$RUNTIME" --ramp_time=0.5 --output-format=json --output="$WORK/f.json" >/dev/null 2>&1
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1]))["jobs"][0]; print(round(j["read"]["iops"]+j["write"]["iops"]))' "$WORK/f.json"
}
blkmq_iops() {
  "$BLKMQ" bench --driver "rbd:image=$IMAGE,conf=$CEPH_CONF${RBD_PARAMS:+,$RBD_PARAMS}" --rw "$RW" --bs 4k \
    --iodepth "$DEPTH" --runtime "$RUNTIME" --size "$SIZE" --output-format json >"$WORK/b.json"
  python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["iops"]))' "$WORK/b.json"
}

: >"$WORK/pairs.tsv"
for i in $(seq "$PAIRS"); do
  if [ $((i % 2)) -eq 1 ]; then first=fio; f=$(fio_iops); b=$(blkmq_iops); else first=blkmq; b=$(blkmq_iops); f=$(fio_iops); fi
  printf '%s\t%s\t%s\t%s\n' "$i" "$first" "$f" "$b" | tee -a "$WORK/pairs.tsv"
done

python3 - "$WORK/pairs.tsv" "$RW" "$DEPTH" <<'PY'
import statistics, sys
rows = [line.split("\t") for line in open(sys.argv[1]).read().splitlines()]
ratio = lambda r: int(r[3]) / int(r[2]) if int(r[2]) else float("nan")
def show(name, sel):
    rs = [ratio(r) for r in sel]
    if rs:
        print(f"{name}: median {statistics.median(rs):.2f} (range {min(rs):.2f}-{max(rs):.2f}, {len(rs)} pairs)")
print(f"blkmq / fio rbd, 4k {sys.argv[2]} QD{sys.argv[3]}")
show("all pairs", rows)
show("fio first", [r for r in rows if r[1] == "fio"])
show("blkmq first", [r for r in rows if r[1] == "blkmq"])
PY
