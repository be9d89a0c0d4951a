#!/usr/bin/env bash
# bench/peer/rbd.sh: the RBD driver against its peers on the same cluster, the same image, in the same run.
#   in-process: `blkmq bench --driver rbd:…` against fio's rbd engine (4 KiB randread / randwrite, QD1 and QD32);
#   over NBD:   `blkmq serve` (rbd export) against `qemu-nbd` with qemu's rbd driver, driven by fio's nbd engine
#               (same jobs) and nbdcopy (COPY_SIZE in and out), with fio rbd as the reference for what the cluster gives.
# Only one client holds the image at a time (blkmq keeps its exclusive lock): each measurement starts and stops its
# own server; the order alternates between ROUNDS rounds (in-process: A-B-B-A within a round) and the table gives
# medians and ratios.
# Targets (issue 14): in-process >= 0.9x fio rbd; over NBD >= 3x qemu-nbd and >= 0.8x fio rbd.
# With PAIRS=N it measures only in-process RW (default randwrite) at DEPTH (default 1), in N tight pairs of fio and
# blkmq, the order alternating from pair to pair: figures that a drifting OSD (memstore slows as it is written)
# spoils in the full run. It prints every pair and the median ratio, overall and by which tool went first.
#
# Environment: CEPH_CONF (an existing cluster; default: start one with scripts/ceph-cluster.sh, memstore), SIZE
# (image size, default 256M), RUNTIME (seconds per fio run, default 3), ROUNDS (default 3), COPY_SIZE (default
# 128M), RBD_PARAMS (more rbd driver parameters for blkmq, e.g. poll=20), BLKMQ (a built blkmq; default: build it),
# RAW (a file to keep every measurement in, TSV: job, server, value), STORE (memstore or bluestore, for the cluster
# started here), BASE (where the work directory goes, default /tmp; /dev/shm puts bluestore on tmpfs). Every process
# started here is stopped by its pid.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SIZE="${SIZE:-256M}"
RUNTIME="${RUNTIME:-3}"
ROUNDS="${ROUNDS:-3}"
COPY_SIZE="${COPY_SIZE:-128M}"
export PATH="/usr/bin:/bin:/usr/sbin:/sbin:$PATH"

for tool in fio qemu-nbd nbdcopy rbd python3; do
  command -v "$tool" >/dev/null || { echo "rbd.sh: $tool missing; run scripts/install-test-tools.sh" >&2; exit 2; }
done
fio --enghelp=rbd >/dev/null 2>&1 || { echo "rbd.sh: this fio has no rbd engine" >&2; exit 2; }

WORK="$(mktemp -d "${BASE:-/tmp}/blkmq-rbd-bench.XXXXXX")"
SERVER_PID=""
CLUSTER=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  if [ -n "$CLUSTER" ]; then "$ROOT/scripts/ceph-cluster.sh" stop "$CLUSTER" || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ -z "${CEPH_CONF:-}" ]; then
  CLUSTER="$WORK/ceph"
  echo "starting a ${STORE:-memstore} cluster..." >&2
  CEPH_CONF="$("$ROOT/scripts/ceph-cluster.sh" start "$CLUSTER" "${STORE:-memstore}")"
fi
export CEPH_CONF

if [ -z "${BLKMQ:-}" ]; then
  echo "building blkmq (Release)..." >&2
  dotnet publish "$ROOT/src/Blkmq.Cli/Blkmq.Cli.csproj" -c Release -o "$WORK/cli" -v quiet -nologo >&2
  BLKMQ="$WORK/cli/blkmq"
fi

IMAGE="bench-$$"
rbd create --size "$SIZE" "rbd/$IMAGE"
echo "filling rbd/$IMAGE ($SIZE; every read reaches an object)..." >&2
rbd bench --io-type write --io-size 4M --io-threads 4 --io-total "$SIZE" --io-pattern seq "rbd/$IMAGE" >/dev/null
[ -n "${PAIRS:-}" ] || head -c "$COPY_SIZE" /dev/urandom >"$WORK/random.bin"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; echo "server did not listen" >&2; return 1; }
stop_server() { kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""; }
start_server() { # blkmq|qemu-nbd -> sets URI
  local p; p=$(port)
  if [ "$1" = blkmq ]; then
    "$BLKMQ" serve --listen "127.0.0.1:$p" --export "vm=rbd:image=$IMAGE,conf=$CEPH_CONF${RBD_PARAMS:+,$RBD_PARAMS}" >"$WORK/server.log" 2>&1 &
  else
    qemu-nbd -f raw -b 127.0.0.1 -p "$p" -x vm -t --shared=8 --cache=writeback "rbd:rbd/$IMAGE:conf=$CEPH_CONF" >"$WORK/server.log" 2>&1 &
  fi
  SERVER_PID=$!
  wait_port "$p"
  URI="nbd://127.0.0.1:$p/vm"
}

RAW="${RAW:-$WORK/raw.tsv}"
: >"$RAW"
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RAW"; }
fio_iops() { # engine-args... ; prints IOPS
  fio --name=j --bs=4k --time_based --runtime="$RUNTIME" --ramp_time=0.5 --output-format=json --output="$WORK/f.json" "$@" >/dev/null 2>"$WORK/f.err" \
    || { cat "$WORK/f.err" >&2; echo 0; return; }
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1]))["jobs"][0]; print(round(j["read"]["iops"]+j["write"]["iops"]))' "$WORK/f.json"
}
blkmq_iops() { # rw depth
  "$BLKMQ" bench --driver "rbd:image=$IMAGE,conf=$CEPH_CONF${RBD_PARAMS:+,$RBD_PARAMS}" --rw "$1" --bs 4k --iodepth "$2" --runtime "$RUNTIME" --size "$SIZE" --output-format json >"$WORK/b.json"
  python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["iops"]))' "$WORK/b.json"
}
copy_mibs() { # in|out
  local start end
  start=$(date +%s.%N)
  if [ "$1" = in ]; then nbdcopy "$WORK/random.bin" "$URI" >/dev/null; else nbdcopy "$URI" null: >/dev/null; fi
  end=$(date +%s.%N)
  python3 -c 'import sys; print(round(int(sys.argv[1]) / 1048576 / (float(sys.argv[3]) - float(sys.argv[2])), 1))' "$(stat -c %s "$WORK/random.bin")" "$start" "$end"
}
nbd_round() { # server
  start_server "$1"
  for rw in randread randwrite; do
    for depth in 1 32; do
      record "nbd $rw qd$depth" "$1" "$(fio_iops --ioengine=nbd --uri="$URI" --rw="$rw" --iodepth="$depth" --size="$SIZE")"
    done
  done
  record "nbdcopy in (MiB/s)" "$1" "$(copy_mibs in)"
  record "nbdcopy out (MiB/s)" "$1" "$(copy_mibs out)"
  stop_server
}

if [ -n "${PAIRS:-}" ]; then
  rw="${RW:-randwrite}"
  depth="${DEPTH:-1}"
  fio_rbd() { fio_iops --ioengine=rbd --clientname=admin --pool=rbd --rbdname="$IMAGE" --rw="$rw" --iodepth="$depth"; }
  : >"$WORK/pairs.tsv"
  for i in $(seq "$PAIRS"); do
    if [ $((i % 2)) -eq 1 ]; then first=fio; f=$(fio_rbd); b=$(blkmq_iops "$rw" "$depth"); else first=blkmq; b=$(blkmq_iops "$rw" "$depth"); f=$(fio_rbd); fi
    printf '%s\t%s\t%s\t%s\n' "$i" "$first" "$f" "$b" | tee -a "$WORK/pairs.tsv"
  done
  python3 - "$WORK/pairs.tsv" "$rw" "$depth" <<'PY'
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
  exit 0
fi

for round in $(seq "$ROUNDS"); do
  echo "round $round/$ROUNDS" >&2
  for rw in randread randwrite; do
    for depth in 1 32; do
      # A-B-B-A within the round: the memstore OSD slows as the run writes it, and a linear drift cancels out.
      for who in $([ $((round % 2)) -eq 1 ] && echo "blkmq fio-rbd fio-rbd blkmq" || echo "fio-rbd blkmq blkmq fio-rbd"); do
        if [ "$who" = blkmq ]; then
          record "in-process $rw qd$depth" blkmq "$(blkmq_iops "$rw" "$depth")"
        else
          record "in-process $rw qd$depth" fio-rbd "$(fio_iops --ioengine=rbd --clientname=admin --pool=rbd --rbdname="$IMAGE" --rw="$rw" --iodepth="$depth")"
        fi
      done
    done
  done
  if [ $((round % 2)) -eq 1 ]; then nbd_round blkmq; nbd_round qemu-nbd; else nbd_round qemu-nbd; nbd_round blkmq; fi
done

python3 - "$RAW" <<'PY'
import statistics, sys, collections
rows = collections.defaultdict(lambda: collections.defaultdict(list))
order = []
for line in open(sys.argv[1]):
    name, who, value = line.rstrip("\n").split("\t")
    if name not in order:
        order.append(name)
    rows[name][who].append(float(value))
med = lambda xs: statistics.median(xs) if xs else float("nan")
fio = {n.replace("in-process ", "nbd "): med(rows[n]["fio-rbd"]) for n in order if n.startswith("in-process")}
print(f"{'job':28} {'blkmq':>10} {'peer':>10} {'ratio':>7}   {'fio rbd':>9} {'blkmq/fio rbd':>13}")
for n in order:
    r = rows[n]
    b = med(r["blkmq"])
    peer_name = "fio-rbd" if n.startswith("in-process") else "qemu-nbd"
    p = med(r[peer_name])
    ratio = b / p if p else float("nan")
    ref = fio.get(n)
    extra = f"{ref:9.0f} {b / ref:13.2f}" if ref else ""
    print(f"{n:28} {b:10.1f} {p:10.1f} {ratio:7.2f}   {extra}   (peer: {peer_name}; runs {len(r['blkmq'])})")
PY
