#!/usr/bin/env bash
# bench/peer/file-nbd.sh: `blkmq serve` on the file driver against `nbdkit file` and
# `qemu-nbd -f raw --cache=none --aio=io_uring`, all three serving the same image file, with the same clients:
# fio's nbd engine 4 KiB randread / randwrite at QD1 and QD32 with 1 and 2 connections (fio jobs), and nbdcopy of
# COPY_SIZE in (file -> export) and out (export -> null:). Blkmq runs twice: with its defaults, and with VARIANT
# (default inline=1: the ring thread runs the NBD connection's continuation; e.g. VARIANT=direct=off). Done on
# each directory of DIRS (default: /dev/shm, a tmpfs, and /var/tmp, the real disk).
# All servers run at once on the same file; each measurement is taken on every server back to back, in an order
# that rotates between ROUNDS rounds; the table gives medians over rounds and Blkmq's ratio to the faster peer
# (the issue's target is >= 1.2). Servers bind 127.0.0.1 on free ports; every process started here is stopped by its
# pid; the work directories are removed on exit.
#
# Environment: DIRS, SIZE (image size, default 1G), COPY_SIZE (default 1G), RUNTIME (seconds per fio run, default
# 3), ROUNDS (default 2), BLKMQ (a built blkmq; default: build it), RAW (a file to keep every measurement in, TSV);
# to measure a subset: RWS (default "randread randwrite"), DEPTHS (default "1 32"), CONNS (default "1 2"), COPY=0
# (skip nbdcopy).
# About 6 minutes per directory with the defaults.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DIRS="${DIRS:-/dev/shm /var/tmp}"
SIZE="${SIZE:-1G}"
COPY_SIZE="${COPY_SIZE:-1G}"
RUNTIME="${RUNTIME:-3}"
ROUNDS="${ROUNDS:-2}"
VARIANT="${VARIANT:-inline=1}"
RWS="${RWS:-randread randwrite}"
DEPTHS="${DEPTHS:-1 32}"
CONNS="${CONNS:-1 2}"
COPY="${COPY:-1}"
export PATH="/usr/bin:/bin:/usr/sbin:/sbin:$PATH"

for tool in fio nbdkit qemu-nbd nbdcopy nbdinfo python3; do
  command -v "$tool" >/dev/null || { echo "file-nbd.sh: $tool missing; run scripts/install-test-tools.sh" >&2; exit 2; }
done
fio --enghelp=nbd 2>/dev/null | grep -q uri || { echo "file-nbd.sh: this fio has no nbd engine" >&2; exit 2; }

SERVERS="blkmq blkmq-inline nbdkit qemu-nbd"
declare -A pid=() uri=()
WORKS=()
stop_pid() {
  if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then kill -TERM "$1"; wait "$1" 2>/dev/null || true; fi
}
cleanup() {
  for p in "${pid[@]}"; do stop_pid "$p"; done
  for w in "${WORKS[@]}"; do rm -rf "$w"; done
}
trap cleanup EXIT

if [ -z "${BLKMQ:-}" ]; then
  CLI="$(mktemp -d /tmp/blkmq-file-nbd-cli.XXXXXX)"; WORKS+=("$CLI")
  echo "building blkmq (Release)..." >&2
  dotnet publish "$ROOT/src/Blkmq.Cli/Blkmq.Cli.csproj" -c Release -o "$CLI" -v quiet -nologo >&2
  BLKMQ="$CLI/blkmq"
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# start_server SERVER: starts one server on $FILE; sets pid[SERVER] and uri[SERVER].
start_server() {
  local server="$1" port
  port="$(free_port)"
  case "$server" in
    blkmq|blkmq-inline)
      local extra=""; [ "$server" = blkmq-inline ] && extra=",$VARIANT"
      "$BLKMQ" serve --listen "127.0.0.1:$port" --export "disk=file:path=${FILES[$server]}$extra" >"$WORK/$server.out" 2>"$WORK/$server.err" &
      pid[$server]=$!
      for _ in $(seq 100); do [ -s "$WORK/$server.out" ] && break; sleep 0.1; done
      [ -s "$WORK/$server.out" ] || { echo "blkmq serve did not start:" >&2; cat "$WORK/$server.err" >&2; exit 1; }
      uri[$server]="$(head -1 "$WORK/$server.out")"
      ;;
    nbdkit)
      nbdkit -f -i 127.0.0.1 -p "$port" file "${FILES[$server]}" &
      pid[$server]=$!
      uri[$server]="nbd://127.0.0.1:$port/"
      ;;
    qemu-nbd)
      # --cache=none is O_DIRECT: a tmpfs without O_DIRECT makes qemu-nbd fail; --cache=writeback is used there.
      local cache=none
      python3 -c 'import os,sys; os.close(os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECT))' "${FILES[$server]}" 2>/dev/null || cache=writeback
      qemu-nbd -f raw --cache="$cache" --aio=io_uring -b 127.0.0.1 -p "$port" -x disk --persistent --shared=4 "${FILES[$server]}" &
      pid[$server]=$!
      uri[$server]="nbd://127.0.0.1:$port/disk"
      ;;
  esac
  for _ in $(seq 100); do nbdinfo --size "${uri[$server]}" >/dev/null 2>&1 && break; sleep 0.1; done
}

fio_iops() { # URI RW DEPTH JOBS
  fio --name=bench --ioengine=nbd --uri="$1" --rw="$2" --bs=4k --iodepth="$3" --numjobs="$4" \
    --time_based --runtime="$RUNTIME" --ramp_time=1 --size="$SIZE" --group_reporting \
    --output-format=json --output="$WORK/fio.json" >/dev/null 2>"$WORK/fio.err" || { cat "$WORK/fio.err" >&2; echo 0; return; }
  python3 -c 'import json,sys; j=json.load(open(sys.argv[1]))["jobs"][0]; print(round(j["read"]["iops"]+j["write"]["iops"]))' "$WORK/fio.json"
}

copy_mibs() { # URI in|out
  local start end bytes
  bytes=$(numfmt --from=iec "$COPY_SIZE")
  start=$(date +%s.%N)
  if [ "$2" = in ]; then nbdcopy --flush "$WORK/random.bin" "$1" >/dev/null; else nbdcopy "$1" null: >/dev/null; fi
  end=$(date +%s.%N)
  python3 -c "print(round($bytes / 1048576 / ($end - $start)))"
}

RESULTS="$(mktemp /tmp/blkmq-file-nbd.XXXXXX.tsv)"
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$where" "$round" "$1" "$2" "$3" >>"$RESULTS"; }

for DIR in $DIRS; do
  WORK="$(mktemp -d "$DIR/blkmq-file-nbd.XXXXXX")"; WORKS+=("$WORK")
  where="$(stat -f -c %T "$DIR") ($DIR)"
  declare -A FILES=()
  echo "== $where: writing $SIZE images and $COPY_SIZE of random data..." >&2
  head -c "$(numfmt --from=iec "$COPY_SIZE")" /dev/urandom >"$WORK/random.bin"
  # One image per server: Blkmq locks its image (flock), so two Blkmq servers cannot share one; all images hold
  # the same bytes (no holes: every read reaches the file system).
  for server in $SERVERS; do
    FILES[$server]="$WORK/$server.img"
    head -c "$(numfmt --from=iec "$SIZE")" /dev/urandom >"${FILES[$server]}"
  done
  for round in $(seq "$ROUNDS"); do
    read -r -a servers <<<"$SERVERS"
    shift_by=$(( (round - 1) % ${#servers[@]} ))
    order="${servers[*]:$shift_by} ${servers[*]:0:$shift_by}"
    for server in $order; do start_server "$server"; echo "round $round: $server ${uri[$server]}" >&2; done
    for server in $order; do nbdcopy "${uri[$server]}" null: >/dev/null 2>&1 || true; done   # warm-up
    for rw in $RWS; do
      for depth in $DEPTHS; do
        for jobs in $CONNS; do
          for server in $order; do
            record "4k $rw qd$depth x$jobs conn (IOPS)" "$server" "$(fio_iops "${uri[$server]}" "$rw" "$depth" "$jobs")"
          done
        done
      done
    done
    if [ "$COPY" != 0 ]; then
      for server in $order; do record "nbdcopy in $COPY_SIZE (MiB/s)" "$server" "$(copy_mibs "${uri[$server]}" in)"; done
      for server in $order; do record "nbdcopy out $COPY_SIZE (MiB/s)" "$server" "$(copy_mibs "${uri[$server]}" out)"; done
    fi
    for server in $order; do stop_pid "${pid[$server]}"; unset "pid[$server]"; done
  done
  rm -rf "$WORK"
done

if [ -n "${RAW:-}" ]; then cp "$RESULTS" "$RAW"; fi
python3 - "$RESULTS" "$ROUNDS" "$VARIANT" <<'PY'
import sys, collections, statistics
rows = collections.OrderedDict()
for line in open(sys.argv[1]):
    where, rnd, test, server, value = line.rstrip("\n").split("\t")
    rows.setdefault((where, test), {}).setdefault(server, []).append(float(value))
print(f"| where | test | blkmq | blkmq {sys.argv[3]} | nbdkit file | qemu-nbd | blkmq / best peer | {sys.argv[3]} / best peer |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for (where, test), v in rows.items():
    m = {s: statistics.median(x) for s, x in v.items()}
    best = max(m.get("nbdkit", 0), m.get("qemu-nbd", 0))
    r = lambda s: f"{m[s] / best:.2f}x" if best else "-"
    print(f"| {where} | {test} | {m['blkmq']:,.0f} | {m['blkmq-inline']:,.0f} | {m['nbdkit']:,.0f} | {m['qemu-nbd']:,.0f} | {r('blkmq')} | {r('blkmq-inline')} |")
print(f"\nmedians of {sys.argv[2]} rounds; every measurement taken on all servers back to back, order rotating per round.")
PY
rm -f "$RESULTS"
