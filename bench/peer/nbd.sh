#!/usr/bin/env bash
# bench/peer/nbd.sh: the Blkmq NBD server against nbdkit, side by side, with the same clients.
#
#   Blkmq memory export (blkmq serve, memory driver)  vs  nbdkit memory
#   Blkmq null export   (blkmq serve, null driver)    vs  nbdkit null
#
# over TCP loopback and a Unix socket; fio's nbd engine 4 KiB randread / randwrite at iodepth 1 and 32 with 1 and 2
# connections (fio jobs), plus nbdcopy of 1 GiB in (filling a fresh export, then overwriting it: median of 3, the two
# servers' copies alternating) and out (likewise; of 9 for null exports, whose copy takes ~10 ms).
# Both servers run at once and each measurement is taken on both back to back, in an order that alternates between
# ROUNDS rounds (fresh servers each round); the table shows medians over rounds and the range of per-round ratios.
# Every server first gets the same unmeasured warm-up copy.
# Servers bind 127.0.0.1 on free ports and Unix sockets in a temp dir; every process started here is stopped by pid.
#
# Environment: SIZE (export size, default 1G), RUNTIME (seconds per fio run, default 3), ROUNDS (default 3),
# COPY_SIZE (nbdcopy bytes, default 1G), WARMUP_SIZE (default 256M), TRANSPORTS ("tcp unix"), KINDS ("memory null"),
# BLKMQ (path of a built blkmq; default: build it), RAW (a file to keep every single measurement in, as TSV).
# A full run takes about 17 minutes.
#
# Note: both null exports report themselves as one zero hole, so "null / nbdcopy out" measures how fast each
# answers block status (nbdcopy skips holes), not data transfer.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SIZE="${SIZE:-1G}"
RUNTIME="${RUNTIME:-3}"
ROUNDS="${ROUNDS:-3}"
COPY_SIZE="${COPY_SIZE:-1G}"
WARMUP_SIZE="${WARMUP_SIZE:-256M}"  # copied in and out once per server before anything is measured
TRANSPORTS="${TRANSPORTS:-tcp unix}"
KINDS="${KINDS:-memory null}"
export PATH="/usr/bin:/bin:/usr/sbin:/sbin:$PATH"   # Debian's nbdsh/nbdcopy/fio first

for tool in fio nbdkit nbdcopy /usr/bin/python3; do
  command -v "$tool" >/dev/null || { echo "nbd.sh: $tool missing; run scripts/install-test-tools.sh" >&2; exit 2; }
done
fio --enghelp=nbd 2>/dev/null | grep -q uri || { echo "nbd.sh: this fio has no nbd engine" >&2; exit 2; }

WORK="$(mktemp -d /tmp/blkmq-nbd-bench.XXXXXX)"
SERVER_PID=""
declare -A pid=() uri=()   # server -> process id / URI of the servers running now
stop_pid() {
  if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then kill -TERM "$1"; wait "$1" 2>/dev/null || true; fi
}
cleanup() {
  stop_pid "$SERVER_PID"
  for p in "${pid[@]}"; do stop_pid "$p"; done
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ -z "${BLKMQ:-}" ]; then
  echo "building blkmq (Release)..." >&2
  dotnet publish "$ROOT/src/Blkmq.Cli/Blkmq.Cli.csproj" -c Release -o "$WORK/cli" -v quiet -nologo >&2
  BLKMQ="$WORK/cli/blkmq"
fi

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# start_server SERVER KIND TRANSPORT: starts one server, sets SERVER_PID and URI.
# This VM's host backs guest memory lazily: a page the guest never used before costs several times more to fault
# in than one another process just freed. So whichever server ran right after a large free was favoured (measured:
# a memory export's first fill 0.32-0.45 of nbdkit's when Blkmq started first, 0.87-0.89 with this). Before each server
# starts, a short-lived process touches and frees 2 x SIZE + 512 MiB, so that both servers (which run at the same time)
# find the same kind of free memory for their exports.
prime_memory() {
  /usr/bin/python3 -c 'import sys; b = bytearray(int(sys.argv[1]))' "$(( 2 * $(numfmt --from=iec "$SIZE") + (512 << 20) ))"
}

start_server() {
  local server="$1" kind="$2" transport="$3" port sock listen
  prime_memory
  port="$(free_port)"
  sock="$WORK/$server-$kind.sock"
  rm -f "$sock"
  if [ "$transport" = tcp ]; then listen="127.0.0.1:$port"; URI="nbd://127.0.0.1:$port/"; else listen="unix:$sock"; URI="nbd+unix:///?socket=$sock"; fi
  if [ "$server" = blkmq ]; then
    local driver="$kind"
    "$BLKMQ" serve --export "disk=$driver:size=$SIZE,irqmode=0,hw_queue_depth=256" --listen "$listen" >"$WORK/blkmq.out" 2>"$WORK/blkmq.err" &
    SERVER_PID=$!
    for _ in $(seq 100); do [ -s "$WORK/blkmq.out" ] && break; sleep 0.1; done
    [ -s "$WORK/blkmq.out" ] || { echo "blkmq serve did not start:" >&2; cat "$WORK/blkmq.err" >&2; exit 1; }
    URI="$(head -1 "$WORK/blkmq.out")"   # blkmq serve prints the export's URI once it listens
  else
    if [ "$transport" = tcp ]; then
      nbdkit -f -i 127.0.0.1 -p "$port" "$kind" "$SIZE" &
    else
      nbdkit -f -U "$sock" "$kind" "$SIZE" &
    fi
    SERVER_PID=$!
    for _ in $(seq 100); do nbdinfo --size "$URI" >/dev/null 2>&1 && break; sleep 0.1; done
  fi
}

# fio_iops RW DEPTH JOBS: IOPS summed over jobs (one connection per job).
fio_iops() {
  fio --name=bench --ioengine=nbd --uri="$URI" --rw="$1" --bs=4k --iodepth="$2" --numjobs="$3" \
    --time_based --runtime="$RUNTIME" --ramp_time=1 --size="$SIZE" --group_reporting \
    --output-format=json --output="$WORK/fio.json" >/dev/null 2>"$WORK/fio.err" || { cat "$WORK/fio.err" >&2; echo 0; return; }
  /usr/bin/python3 -c 'import json,sys; j=json.load(open(sys.argv[1]))["jobs"][0]; print(round(j["read"]["iops"]+j["write"]["iops"]))' "$WORK/fio.json"
}

# copy_mibs DIRECTION: nbdcopy throughput in MiB/s, in (file -> export) or out (export -> null:).
copy_mibs() {
  local start end bytes
  bytes=$(numfmt --from=iec "$COPY_SIZE")
  start=$(date +%s.%N)
  if [ "$1" = in ]; then nbdcopy "$WORK/random.bin" "$URI" >/dev/null; else nbdcopy "$URI" null: >/dev/null; fi
  end=$(date +%s.%N)
  /usr/bin/python3 -c "print(round($bytes / 1048576 / ($end - $start)))"
}

# copy_pair TEST DIRECTION COUNT: COUNT copies on each server, alternating between them copy by copy; records the
# median of each server's copies.
copy_pair() {
  local i server values
  declare -A values=()
  for i in $(seq "$3"); do
    for server in $order; do URI="${uri[$server]}"; values[$server]+="$(copy_mibs "$2") "; done
  done
  for server in $order; do
    record "$round" "$1" "$server" "$(printf '%s\n' ${values[$server]} | sort -n | sed -n "$(( ($3 + 1) / 2 ))p")"
  done
}

echo "making $COPY_SIZE of random data..." >&2
head -c "$(numfmt --from=iec "$COPY_SIZE")" /dev/urandom >"$WORK/random.bin"
head -c "$(numfmt --from=iec "$WARMUP_SIZE")" "$WORK/random.bin" >"$WORK/warmup.bin"

# Every server gets the same warm-up: a short copy in and out (a JIT compiles its hot paths; a C server faults in
# its code and buffers), so the copies measure steady state, not the first second of a process.
warm_up() {
  nbdcopy "$WORK/warmup.bin" "$URI" >/dev/null 2>&1 || true
  nbdcopy "$URI" null: >/dev/null 2>&1 || true
}

RESULTS="$WORK/results.tsv"
: >"$RESULTS"

# record ROUND TEST SERVER VALUE
record() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$transport" "$kind" "$1" "$2" "$3" "$4" >>"$RESULTS"; }

# Both servers run at the same time and every measurement is taken for each of them back to back, the order
# alternating between rounds, so that the machine's drift (it is shared) falls on both alike. Each value in the
# table is the median over ROUNDS rounds.
for transport in $TRANSPORTS; do
  for kind in $KINDS; do
    for round in $(seq "$ROUNDS"); do
      # Copying out of a null export only asks for block status (~10 ms, mostly process start): take more copies.
      if [ "$kind" = null ]; then out_copies=9; else out_copies=3; fi
      if [ $((round % 2)) = 1 ]; then order="blkmq nbdkit"; else order="nbdkit blkmq"; fi
      for server in $order; do
        start_server "$server" "$kind" "$transport"
        uri[$server]="$URI"; pid[$server]="$SERVER_PID"; SERVER_PID=""
        echo "== round $round: $server $kind over $transport: $URI" >&2
      done
      for server in $order; do URI="${uri[$server]}"; warm_up; done
      for server in $order; do URI="${uri[$server]}"; record "$round" "nbdcopy in, first fill (MiB/s)" "$server" "$(copy_mibs in)"; done
      copy_pair "nbdcopy in, overwrite (MiB/s)" in 3
      copy_pair "nbdcopy out (MiB/s)" out "$out_copies"
      for rw in randread randwrite; do
        for depth in 1 32; do
          for jobs in 1 2; do
            for server in $order; do
              URI="${uri[$server]}"
              record "$round" "4k $rw qd$depth x$jobs conn (IOPS)" "$server" "$(fio_iops "$rw" "$depth" "$jobs")"
            done
          done
        done
      done
      for server in $order; do stop_pid "${pid[$server]}"; unset "pid[$server]"; done
    done
  done
done

if [ -n "${RAW:-}" ]; then cp "$RESULTS" "$RAW"; fi
/usr/bin/python3 - "$RESULTS" "$ROUNDS" <<'PY'
import sys, collections, statistics
rows = collections.OrderedDict()
for line in open(sys.argv[1]):
    transport, kind, rnd, test, server, value = line.rstrip("\n").split("\t")
    rows.setdefault((transport, kind, test), {}).setdefault(server, {})[int(rnd)] = float(value)
print(f"{'transport':<9} {'export':<7} {'test':<34} {'blkmq':>10} {'nbdkit':>10} {'ratio':>7}  {'per round':>11}")
for (transport, kind, test), v in rows.items():
    b, n = v.get("blkmq", {}), v.get("nbdkit", {})
    bm = statistics.median(b.values()) if b else 0
    nm = statistics.median(n.values()) if n else 0
    ratio = f"{bm / nm:.2f}" if nm else "-"
    per = [b[r] / n[r] for r in b if n.get(r)]
    spread = f"{min(per):.2f}-{max(per):.2f}" if per else "-"
    print(f"{transport:<9} {kind:<7} {test:<34} {bm:>10.0f} {nm:>10.0f} {ratio:>7}  {spread:>11}")
print(f"values: medians of {sys.argv[2]} rounds; ratio = Blkmq / nbdkit of the medians (higher is better for Blkmq);")
print("per round: the lowest and highest ratio of one round (both servers measured back to back).")
PY
