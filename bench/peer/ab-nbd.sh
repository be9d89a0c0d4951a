#!/usr/bin/env bash
# bench/peer/ab-nbd.sh: two builds of the Blkmq NBD server against each other, with the same client in the same run.
#
# Usage: bench/peer/ab-nbd.sh OLD_BLKMQ NEW_BLKMQ
#   OLD_BLKMQ, NEW_BLKMQ  paths of two built `blkmq` executables (e.g. a `dotnet publish` of another commit)
#
# Both servers run at once (same driver, 127.0.0.1, ports chosen now); fio's nbd engine runs each case on both,
# alternating which goes first, ROUNDS times; the table shows per-server medians and new/old with the range of the
# per-round ratios. This is how a change to the NBD path is judged "unchanged or better" on a noisy shared machine
# (nbd.sh compares against nbdkit instead, and its ratios move with the machine between runs).
#
# Environment: ROUNDS (default 5), RUNTIME (seconds per fio run, default 3), KINDS (default "null memory": a driver
# name gets ":size=1G,irqmode=0,hw_queue_depth=256"; a whole driver spec is used as it is, with %s replaced by "old"
# or "new", e.g. "file:path=/dev/shm/ab-%s.img null:size=1G,irqmode=2,completion_nsec=10000"),
# CASES (default "randread:1:1 randread:32:1 randwrite:32:2 randread:32:2": rw:iodepth:connections).
# Every process started here is stopped by its pid.
set -euo pipefail

OLD="${1:?usage: ab-nbd.sh OLD_BLKMQ NEW_BLKMQ}"
NEW="${2:?usage: ab-nbd.sh OLD_BLKMQ NEW_BLKMQ}"
ROUNDS="${ROUNDS:-5}"
RUNTIME="${RUNTIME:-3}"
KINDS="${KINDS:-null memory}"
CASES="${CASES:-randread:1:1 randread:32:1 randwrite:32:2 randread:32:2}"
export PATH="/usr/bin:/bin:/usr/sbin:/sbin:$PATH"
command -v fio >/dev/null || { echo "ab-nbd.sh: fio missing; run scripts/install-test-tools.sh" >&2; exit 2; }

WORK="$(mktemp -d /tmp/blkmq-ab-nbd.XXXXXX)"
declare -A pid=() uri=()
cleanup() {
  for p in "${pid[@]}"; do
    if kill -0 "$p" 2>/dev/null; then kill -TERM "$p"; wait "$p" 2>/dev/null || true; fi
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

start() { # start NAME BINARY KIND
  local port
  port="$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
  local spec="$3:size=1G,irqmode=0,hw_queue_depth=256"
  case "$3" in *:*) spec="${3//%s/$1}" ;; esac
  "$2" serve --export "disk=$spec" --listen "127.0.0.1:$port" >"$WORK/$1.out" 2>"$WORK/$1.err" &
  pid[$1]=$!
  for _ in $(seq 100); do [ -s "$WORK/$1.out" ] && break; sleep 0.1; done
  [ -s "$WORK/$1.out" ] || { echo "ab-nbd.sh: $2 serve did not start:" >&2; cat "$WORK/$1.err" >&2; exit 1; }
  uri[$1]="$(head -1 "$WORK/$1.out")"
}

iops() { # iops URI RW QD JOBS
  fio --name=ab --ioengine=nbd --uri="$1" --rw="$2" --bs=4k --iodepth="$3" --numjobs="$4" --group_reporting \
    --time_based --runtime="$RUNTIME" --size=1G --output-format=terse --terse-version=3 2>/dev/null |
    awk -F';' -v rw="$2" '/;/ { print (rw ~ /read/) ? $8 : $49 }'
}

RAW="$WORK/raw.tsv"
for kind in $KINDS; do
  start old "$OLD" "$kind"
  start new "$NEW" "$kind"
  # One unmeasured pass each, so a memory export's pages are faulted in before anything counts.
  for s in old new; do iops "${uri[$s]}" randwrite 32 2 >/dev/null; done
  for c in $CASES; do
    IFS=: read -r rw qd jobs <<<"$c"
    for r in $(seq "$ROUNDS"); do
      order="old new"; [ $((r % 2)) = 0 ] && order="new old"
      for s in $order; do
        printf '%s\t%s\t%s\t%s\n' "$kind" "$c" "$s" "$(iops "${uri[$s]}" "$rw" "$qd" "$jobs")" >>"$RAW"
        echo "  $kind $c round $r $s" >&2
      done
    done
  done
  for s in old new; do kill -TERM "${pid[$s]}"; wait "${pid[$s]}" 2>/dev/null || true; unset "pid[$s]"; done
done

/usr/bin/python3 - "$RAW" "$ROUNDS" <<'PY'
import sys, statistics, collections
raw, rounds = sys.argv[1], int(sys.argv[2])
runs = collections.defaultdict(lambda: {"old": [], "new": []})
for line in open(raw):
    kind, case, server, value = line.rstrip("\n").split("\t")
    runs[(kind, case)][server].append(float(value or 0))
print(f"\nfio nbd engine, 4 KiB, TCP loopback: medians of {rounds} interleaved rounds (IOPS)")
print(f"{'export':8} {'rw:qd:conns':16} {'old':>10} {'new':>10} {'new/old':>8}  per-round range")
for (kind, case), v in runs.items():
    old, new = statistics.median(v["old"]), statistics.median(v["new"])
    ratios = [n / o for o, n in zip(v["old"], v["new"]) if o > 0]
    print(f"{kind:8} {case:16} {old:10,.0f} {new:10,.0f} {new / old if old else 0:8.2f}  {min(ratios):.2f}-{max(ratios):.2f}")
PY
