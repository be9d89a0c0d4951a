#!/usr/bin/env bash
# bench/peer/cow-nbd.sh: NBD through a copy-on-write filter on a file, Blkmq against nbdkit (issue 13: "NBD through
# `cow` on a file >= nbdkit with its cow filter on the same file").
#
#   blkmq       blkmq serve --export 'vm=file:path=base.img|cow'                  (memory overlay, a memfd: the default)
#   blkmq-file  blkmq serve --export 'vm=file:path=base.img|cow:file=overlay.img' (overlay file in the same directory)
#   nbdkit      TMPDIR=DIR nbdkit --filter=cow file base.img                      (its overlay: a temp file in TMPDIR)
#
# All three serve the same base image (SIZE of random bytes, no holes, so every read that misses the overlay reaches
# the file) in DIR; nbdkit's overlay lies in the same directory (TMPDIR). Cow block size: nbdkit's default 64K; Blkmq
# has none to set (its bitmaps track the disk's logical blocks, so a 4 KiB write to an empty overlay copies nothing
# from below, where nbdkit reads the 64K block from the plugin first). Each server runs with its defaults otherwise: Blkmq's file driver direct=auto
# (O_DIRECT on ext4, buffered on tmpfs), nbdkit's file plugin through the page cache.
#
# Every measurement gets a fresh server (its overlay starts empty) and is one fio run with the nbd engine: 4 KiB
# randread and randwrite at QD1 and QD32, 1 MiB sequential write at QD32, 4 KiB randrw 70/30 at QD32, one connection.
# The servers run one after another, test by test, in an order that rotates between repetitions; the table gives the
# medians over REPS repetitions and Blkmq's ratio to nbdkit of the medians, with the range of the per-repetition ratios.
# Only those ratios mean anything on a shared machine. Servers bind 127.0.0.1 on ports chosen at run time, or Unix
# sockets in the work directory; every process started here is stopped by its pid; the work directory goes on exit.
set -euo pipefail

usage() {
  cat <<EOF
usage: bench/peer/cow-nbd.sh [--runtime S] [--reps N] [--size SIZE] [--dir DIR] [--transports "tcp unix"]
                             [--servers "blkmq blkmq-file nbdkit"] [--tests "..."] [--raw FILE] [--prime] [--help]

  --runtime S     seconds per fio run, after 1 s of ramp (default 5)
  --reps N        repetitions; values are medians over them (default 3)
  --size SIZE     base image size (default 1G)
  --dir DIR       directory of the base image and the overlays (default /var/tmp)
  --transports T  tcp, unix or both (default "tcp unix")
  --servers S     of blkmq, blkmq-file, nbdkit (default all; nbdkit is the reference)
  --tests T       of randread-qd1 randread-qd32 randwrite-qd1 randwrite-qd32 write1m-qd32 randrw-qd32 (default all)
  --raw FILE      also keep every single measurement in FILE (TSV)
  --prime         before each server starts, touch and free 2 x SIZE + 512 MiB in a short-lived process (as
                  bench/peer/nbd.sh does): on a VM whose host backs guest memory lazily, memory never used before
                  costs several times more to fault in, which hits the memory overlay (new shared-memory pages) more
                  than page-cache overlays (default: off)
  BLKMQ=PATH      a built blkmq (default: build one with dotnet publish)

A run with the defaults takes about 2 x 6 x 3 x 3 x (RUNTIME + 3) s: 14 minutes with --runtime 5.
EOF
}

RUNTIME=5
REPS=3
SIZE=1G
DIR=/var/tmp
TRANSPORTS="tcp unix"
SERVERS="blkmq blkmq-file nbdkit"
TESTS="randread-qd1 randread-qd32 randwrite-qd1 randwrite-qd32 write1m-qd32 randrw-qd32"
RAW=""
PRIME=0
while [ $# -gt 0 ]; do
  case "$1" in
    --runtime) RUNTIME="$2"; shift 2 ;;
    --reps) REPS="$2"; shift 2 ;;
    --size) SIZE="$2"; shift 2 ;;
    --dir) DIR="$2"; shift 2 ;;
    --transports) TRANSPORTS="$2"; shift 2 ;;
    --servers) SERVERS="$2"; shift 2 ;;
    --tests) TESTS="$2"; shift 2 ;;
    --raw) RAW="$2"; shift 2 ;;
    --prime) PRIME=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "cow-nbd.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export PATH="/usr/bin:/bin:/usr/sbin:/sbin:$PATH"   # Debian's fio/nbdkit/nbdinfo first

for tool in fio nbdkit nbdinfo python3; do
  command -v "$tool" >/dev/null || { echo "cow-nbd.sh: $tool missing; run scripts/install-test-tools.sh" >&2; exit 2; }
done
fio --enghelp=nbd 2>/dev/null | grep -q uri || { echo "cow-nbd.sh: this fio has no nbd engine" >&2; exit 2; }
nbdkit --filter=cow null --dump-plugin >/dev/null 2>&1 || { echo "cow-nbd.sh: nbdkit has no cow filter" >&2; exit 2; }

WORK="$(mktemp -d "$DIR/blkmq-cow-nbd.XXXXXX")"
CLI=""
SERVER_PID=""
stop_pid() {
  if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then kill -TERM "$1"; wait "$1" 2>/dev/null || true; fi
}
cleanup() {
  stop_pid "$SERVER_PID"
  rm -rf "$WORK"
  [ -z "$CLI" ] || rm -rf "$CLI"
}
trap cleanup EXIT

if [ -z "${BLKMQ:-}" ]; then
  CLI="$(mktemp -d /tmp/blkmq-cow-nbd-cli.XXXXXX)"
  echo "building blkmq (Release)..." >&2
  dotnet publish "$ROOT/src/Blkmq.Cli/Blkmq.Cli.csproj" -c Release -o "$CLI" -v quiet -nologo >&2
  BLKMQ="$CLI/blkmq"
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

prime_memory() {
  python3 -c 'import sys; b = bytearray(int(sys.argv[1]))' "$(( 2 * $(numfmt --from=iec "$SIZE") + (512 << 20) ))"
}

# start_server SERVER TRANSPORT: starts one server on $BASE with an empty overlay; sets SERVER_PID and URI.
start_server() {
  local server="$1" transport="$2" port sock listen
  [ "$PRIME" = 0 ] || prime_memory
  port="$(free_port)"
  sock="$WORK/$server.sock"
  rm -f "$sock" "$WORK/overlay.img"
  if [ "$transport" = tcp ]; then listen="127.0.0.1:$port"; else listen="unix:$sock"; fi
  case "$server" in
    blkmq|blkmq-file)
      local cow="cow"
      [ "$server" = blkmq-file ] && cow="cow:file=$WORK/overlay.img"
      : >"$WORK/blkmq.out"
      "$BLKMQ" serve --export "vm=file:path=$BASE|$cow" --listen "$listen" >"$WORK/blkmq.out" 2>"$WORK/blkmq.err" &
      SERVER_PID=$!
      for _ in $(seq 100); do [ -s "$WORK/blkmq.out" ] && break; sleep 0.1; done
      [ -s "$WORK/blkmq.out" ] || { echo "blkmq serve did not start:" >&2; cat "$WORK/blkmq.err" >&2; exit 1; }
      URI="$(head -1 "$WORK/blkmq.out")"   # blkmq serve prints the export's URI once it listens
      ;;
    nbdkit)
      if [ "$transport" = tcp ]; then
        TMPDIR="$WORK" nbdkit -f -i 127.0.0.1 -p "$port" --filter=cow file "$BASE" cow-block-size=64K &
        URI="nbd://127.0.0.1:$port/"
      else
        TMPDIR="$WORK" nbdkit -f -U "$sock" --filter=cow file "$BASE" cow-block-size=64K &
        URI="nbd+unix:///?socket=$sock"
      fi
      SERVER_PID=$!
      ;;
  esac
  for _ in $(seq 100); do nbdinfo --size "$URI" >/dev/null 2>&1 && break; sleep 0.1; done
  nbdinfo --size "$URI" >/dev/null 2>&1 || { echo "$server did not start on $URI" >&2; exit 1; }
}

# run_fio TEST: one fio run on $URI; prints "IOPS MiB/s" (reads and writes added).
run_fio() {
  local rw bs depth extra=()
  case "$1" in
    randread-qd*) rw=randread bs=4k ;;
    randwrite-qd*) rw=randwrite bs=4k ;;
    write1m-qd*) rw=write bs=1m ;;
    randrw-qd*) rw=randrw bs=4k extra=(--rwmixread=70) ;;
    *) echo "cow-nbd.sh: unknown test $1" >&2; exit 2 ;;
  esac
  depth="${1##*-qd}"
  fio --name=bench --ioengine=nbd --uri="$URI" --rw="$rw" --bs="$bs" --iodepth="$depth" --numjobs=1 "${extra[@]}" \
    --time_based --runtime="$RUNTIME" --ramp_time=1 --size="$SIZE" --randrepeat=0 \
    --output-format=json --output="$WORK/fio.json" >/dev/null 2>"$WORK/fio.err" || { cat "$WORK/fio.err" >&2; echo "0 0"; return; }
  python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
print(round(j["read"]["iops"] + j["write"]["iops"]), round((j["read"]["bw"] + j["write"]["bw"]) / 1024, 1))' "$WORK/fio.json"
}

BASE="$WORK/base.img"
echo "== $(stat -f -c %T "$DIR") ($DIR): writing the $SIZE base image..." >&2
head -c "$(numfmt --from=iec "$SIZE")" /dev/urandom >"$BASE"
sync "$BASE"
cat "$BASE" >/dev/null   # into the page cache for both (nbdkit reads through it; Blkmq's O_DIRECT does not)

RESULTS="$WORK/results.tsv"
: >"$RESULTS"
read -r -a servers <<<"$SERVERS"
for rep in $(seq "$REPS"); do
  shift_by=$(( (rep - 1) % ${#servers[@]} ))
  order="${servers[*]:$shift_by} ${servers[*]:0:$shift_by}"
  for transport in $TRANSPORTS; do
    for test in $TESTS; do
      for server in $order; do
        start_server "$server" "$transport"
        read -r iops mibs <<<"$(run_fio "$test")"
        stop_pid "$SERVER_PID"; SERVER_PID=""
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$transport" "$test" "$rep" "$server" "$iops" "$mibs" >>"$RESULTS"
        echo "rep $rep $transport $test $server: $iops IOPS $mibs MiB/s" >&2
      done
    done
  done
done

[ -z "$RAW" ] || cp "$RESULTS" "$RAW"
python3 - "$RESULTS" "$REPS" "$SERVERS" <<'PY'
import sys, collections, statistics
rows = collections.OrderedDict()
for line in open(sys.argv[1]):
    transport, test, rep, server, iops, mibs = line.rstrip("\n").split("\t")
    rows.setdefault((transport, test), {}).setdefault(server, {})[int(rep)] = (float(iops), float(mibs))
servers = sys.argv[3].split()
mine = [s for s in servers if s != "nbdkit"]
head = "| transport | test |" + "".join(f" {s} IOPS | {s} MiB/s |" for s in servers)
head += "".join(f" {s} / nbdkit (per rep) |" for s in mine if "nbdkit" in servers)
print(head)
print("|" + " --- | --- |" + " ---: |" * (head.count("|") - 3))
for (transport, test), v in rows.items():
    med = {s: (statistics.median(x[0] for x in v[s].values()), statistics.median(x[1] for x in v[s].values())) for s in v}
    line = f"| {transport} | {test} |"
    for s in servers:
        line += f" {med[s][0]:,.0f} | {med[s][1]:,.1f} |" if s in med else " - | - |"
    if "nbdkit" in med:
        n = med["nbdkit"][0]
        for s in mine:
            if s in med and n:
                per = [v[s][r][0] / v["nbdkit"][r][0] for r in v[s] if v["nbdkit"].get(r, (0,))[0]]
                line += f" {med[s][0] / n:.2f}x ({min(per):.2f}-{max(per):.2f}) |"
            else:
                line += " - |"
    print(line)
print(f"\nmedians of {sys.argv[2]} repetitions, one fresh server (empty overlay) per fio run; ratio = Blkmq / nbdkit of the "
      "median IOPS, in brackets the lowest and highest ratio within one repetition.")
PY
