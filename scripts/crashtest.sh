#!/usr/bin/env bash
# Crash-consistency test of ext4 (and a SQLite database in WAL mode on it) over Blkmq, with the log-writes filter
# (docs/crash-testing.md). Needs root (FUSE mount, losetup, mount), e2fsprogs, and sqlite3 for --sqlite.
#
#   scripts/crashtest.sh [--size 64M] [--workload FILE] [--sqlite N] [--max-points N] [--last N] [--explore K]
#                        [--mount-options OPTS] [--broken] [--keep] [--help]
#
# 1. serve a memory disk through log-writes as a FUSE file (--run captive mode), losetup it, mkfs.ext4 (then a mark
#    'mkfs'), mount, run the workload (FILE runs with sh in the mounted directory; default: a built-in fsstress-like
#    script), then N SQLite transactions in WAL mode with synchronous=FULL, each followed by a mark 'commit-I', unmount;
# 2. for every flush point after the mkfs mark (only the last N with --last; N of them, evenly spread, with
#    --max-points), and the end of the log:
#    blkmq replay to that point, let e2fsck replay the ext4 journal (-E journal_only), then e2fsck -fn must be clean;
#    with --sqlite, the database dumped from the image (debugfs) must hold every transaction committed before that point;
#    with --explore K, also K crash states right after each such point (blkmq replay --crash SEED: a random subset of
#    the writes completed after it and before the next flush point landed, seed = point x 1000 + k), checked the same way.
# --broken replays wrongly (blkmq replay --broken: every other write of the last 8 runs of writes that flushes before
# the point made durable is lost, while later ones landed): a correct checker reports unclean points then (at the
# unmount's checkpoint at least). Prints one line per unclean point and a summary; exits 0 when every point is clean,
# 1 when some are not, 2 on a usage or setup error (or a log without the N commit marks).
# N and K are whole numbers (0: none, or for --max-points every point; --max-points 1 checks the last flush point).
# --help prints this text.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
size=64M workload="" sqlite=0 max_points=0 last=0 explore=0 broken="" keep=0 mount_options=""
usage() { awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; }
usage_error() { echo "crashtest: $1 (try --help)" >&2; exit 2; }
# Checks that option $1's value $2 is a whole number (bash arithmetic would read 08 as octal, or wrap a huge one).
whole() { [[ $2 =~ ^[0-9]{1,9}$ ]] || usage_error "$1 '$2' is not a whole number from 0 to 999999999"; }
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --broken) broken=--broken; shift; continue ;;
    --keep) keep=1; shift; continue ;;
    --size|--workload|--sqlite|--max-points|--last|--explore|--mount-options)
      # A value that is the next option is a forgotten one: "--sqlite --keep" would make "--keep" the count.
      [ $# -ge 2 ] && [[ $2 != --* ]] || usage_error "$1 needs a value" ;;
    *) usage_error "unknown option '$1'" ;;
  esac
  case "$1" in
    --size) [[ $2 =~ ^[1-9][0-9]*([KkMmGgTt](i?[Bb])?)?$ ]] || usage_error "--size '$2' is not a size (such as 64M)"; size=$2 ;;
    --workload) [ -f "$2" ] || usage_error "--workload '$2' is not a file"; workload=$(realpath "$2") ;;
    --sqlite) whole "$1" "$2"; sqlite=$((10#$2)) ;;
    --max-points) whole "$1" "$2"; max_points=$((10#$2)) ;;
    --last) whole "$1" "$2"; last=$((10#$2)) ;;
    --explore) whole "$1" "$2"; explore=$((10#$2)) ;;
    --mount-options) mount_options=$2 ;;
  esac
  shift 2
done
for tool in losetup mkfs.ext4 e2fsck debugfs mount; do
  command -v "$tool" >/dev/null || { echo "crashtest: $tool is missing (scripts/install-test-tools.sh)" >&2; exit 2; }
done
[ "$sqlite" = 0 ] || command -v sqlite3 >/dev/null || { echo "crashtest: sqlite3 is missing" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "crashtest: needs root (FUSE mount, losetup, mount)" >&2; exit 2; }

# The blkmq command: BLKMQ (a built Blkmq.Cli.dll or an executable), else scripts/blkmq.
if [ -n "${BLKMQ:-}" ]; then
  case "$BLKMQ" in *.dll) blkmq() { dotnet "$BLKMQ" "$@"; } ;; *) blkmq() { "$BLKMQ" "$@"; } ;; esac
else
  blkmq() { "$root/scripts/blkmq" "$@"; }
fi

tmp=$(mktemp -d /tmp/blkmq-crashtest.XXXXXX)
cleanup() {
  # Killed from outside (timeout, Ctrl-C), the server SIGKILLs the workload, whose own trap cannot run: its mount and
  # loop device (named in $tmp/loop until the workload detached it) are left to undo here.
  if [ -f "$tmp/loop" ]; then
    mountpoint -q "$tmp/mnt" && umount "$tmp/mnt"
    losetup -d "$(cat "$tmp/loop")" 2>/dev/null
  fi
  [ "$keep" = 1 ] && echo "kept $tmp" >&2 || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
mkdir "$tmp/fuse" "$tmp/mnt"

# What runs inside the server's lifetime ($file is the FUSE file of the export, set by serve --run).
cat >"$tmp/inside.sh" <<INSIDE
set -e
loop=\$(losetup --find --show "\$file")
echo "\$loop" >"$tmp/loop"
# Leave the mount first (the workload's cwd is in it), and go on past a failure (set -e holds in the trap too).
trap 'cd /; umount "$tmp/mnt" 2>/dev/null || true; losetup -d "\$loop" && rm -f "$tmp/loop" || true' EXIT
mkfs.ext4 -q -F "\$loop"
\$MARK mkfs
mount ${mount_options:+-o "$mount_options"} "\$loop" "$tmp/mnt"
cd "$tmp/mnt"
if [ -n "$workload" ]; then sh "$workload"; else
  mkdir -p a/b c
  i=1; while [ \$i -le 40 ]; do head -c \$((i * 3001)) /dev/urandom >a/f\$i; i=\$((i + 1)); done
  sync
  mv a/f1 c/; rm a/f2 a/f3; ln a/f4 c/h4; ln -s f5 a/s5; truncate -s 1M a/f6; mkdir a/b/d; mv a/f7 a/b/d/
  dd if=/dev/urandom of=a/f8 bs=4k count=16 conv=notrunc,fsync 2>/dev/null
  sync
  i=1; while [ \$i -le 20 ]; do echo \$i >>c/append; sync c/append; i=\$((i + 1)); done
  rm -r a/b; mkdir a/e; i=41; while [ \$i -le 60 ]; do head -c 4096 /dev/urandom >a/e/f\$i; i=\$((i + 1)); done
  sync
fi
n=1; while [ \$n -le $sqlite ]; do
  sqlite3 db "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE IF NOT EXISTS t(i INTEGER, pad BLOB); INSERT INTO t VALUES (\$n, randomblob(3000));" >/dev/null
  \$MARK commit-\$n
  n=\$((n + 1))
done
cd /
INSIDE

export MARK="blkmq_mark"
blkmq_bin() { :; }
# serve --run runs inside.sh with sh; marks go through blkmq ctl on the control socket.
if [ -n "${BLKMQ:-}" ]; then
  case "$BLKMQ" in *.dll) mark_cmd="dotnet $BLKMQ" ;; *) mark_cmd="$BLKMQ" ;; esac
else
  mark_cmd="$root/scripts/blkmq"
fi
export MARK="$mark_cmd ctl --control $tmp/ctl mark"
if ! blkmq serve --export "disk=memory:size=$size|log-writes:file=$tmp/log" --listen none --fuse "$tmp/fuse" \
    --control "$tmp/ctl" --run "sh -e $tmp/inside.sh" >"$tmp/serve.out" 2>"$tmp/serve.err"; then
  echo "crashtest: the workload failed:" >&2; tail -20 "$tmp/serve.err" >&2; exit 2
fi

blkmq replay "$tmp/log" --list >"$tmp/list" || exit 2
total=$(sed -n 's/.*flush-points=\([0-9]*\) .*/\1/p' "$tmp/list" | tail -1)
first=$(sed -n 's/^mark mkfs .*after-flush-points=\([0-9]*\)$/\1/p' "$tmp/list")
first=$((first + 1))
commits=$(grep -c '^mark commit-' "$tmp/list")
if [ "$commits" != "$sqlite" ]; then
  # Without its marks every point would expect 0 transactions and pass the database check unseen.
  echo "crashtest: the log holds $commits of $sqlite commit marks (blkmq ctl mark failed?)" >&2; exit 2
fi
points=()
if [ "$last" -gt 0 ] && [ $((total - last + 1)) -gt "$first" ]; then first=$((total - last + 1)); fi
for ((p = first; p <= total; p++)); do points+=("$p"); done
if [ "$max_points" = 1 ] && [ "${#points[@]}" -gt 1 ]; then
  points=("${points[-1]}") # one point spread evenly from the first to the last is the last (k / (N - 1) divides by 0)
elif [ "$max_points" -gt 0 ] && [ "${#points[@]}" -gt "$max_points" ]; then
  picked=()
  for ((k = 0; k < max_points; k++)); do picked+=("${points[$((k * (${#points[@]} - 1) / (max_points - 1)))]}"); done
  points=("${picked[@]}")
fi
points+=(end)

checked=0 unclean=0 crashes=0
# Checks $tmp/img: ext4's journal replayed, then e2fsck -fn clean and, with --sqlite, every transaction committed
# before flush point $2 (a number, or total + 1 for the end) in the database. $1 names the state in the report.
check_image() {
  local label=$1 limit=$2 want have
  e2fsck -y -E journal_only "$tmp/img" >/dev/null 2>&1
  checked=$((checked + 1))
  if ! e2fsck -fn "$tmp/img" >"$tmp/fsck.out" 2>&1; then
    unclean=$((unclean + 1))
    echo "unclean: $label: $(grep -v '^e2fsck\|^Pass\|^$' "$tmp/fsck.out" | head -2 | tr '\n' ' ')"
    return
  fi
  if [ "$sqlite" -gt 0 ]; then
    # Transactions committed before this point: commit marks logged before flush point $limit.
    want=$(awk -v p="$limit" '/^mark commit-/ { split($4, a, "="); if (a[2] < p) n++ } END { print n + 0 }' "$tmp/list")
    rm -f "$tmp/db" "$tmp/db-wal" "$tmp/db-shm"
    debugfs -R "dump /db $tmp/db" "$tmp/img" >/dev/null 2>&1
    debugfs -R "dump /db-wal $tmp/db-wal" "$tmp/img" >/dev/null 2>&1
    have=0
    [ -s "$tmp/db" ] && have=$(sqlite3 "$tmp/db" "SELECT count(*) FROM t" 2>/dev/null || echo 0)
    if [ "${have:-0}" -lt "$want" ]; then
      unclean=$((unclean + 1))
      echo "unclean: $label: sqlite has $have of $want committed transactions"
    fi
  fi
}

for p in "${points[@]}"; do
  if [ "$p" = end ]; then target=(); limit=$((total + 1)); else target=(--to-flush "$p"); limit=$p; fi
  blkmq replay "$tmp/log" "${target[@]}" $broken --output "$tmp/img" >/dev/null || exit 2
  check_image "flush point $p" "$limit"
  # Crash states right after the point; at the end, right after the last flush point (a power cut when the run
  # ended: what that flush made durable, and some of the writes after it).
  crash_from=$p
  [ "$p" = end ] && crash_from=$total
  if [ -z "$broken" ] && [ "$crash_from" -gt 0 ] && [ "$crash_from" != "${explored_last:-}" ]; then
    explored_last=$crash_from
    for ((k = 1; k <= explore; k++)); do
      seed=$((crash_from * 1000 + k))
      blkmq replay "$tmp/log" --to-flush "$crash_from" --crash "$seed" --output "$tmp/img" >"$tmp/replay.out" || exit 2
      crashes=$((crashes + 1))
      check_image "flush point $crash_from crash $seed ($(sed -n 's/.*crash [0-9]*: \([0-9]* of the [0-9]*\) writes.*/\1/p' "$tmp/replay.out") unflushed writes landed)" "$crash_from"
    done
  fi
done
db=""; [ "$sqlite" -gt 0 ] && db=", $sqlite SQLite transactions committed"
explored=""; [ "$crashes" -gt 0 ] && explored=" ($crashes of them crash states)"
if [ "$first" -le "$total" ]; then range="from flush point $first and the end"; else range="the end only: no flush point after mkfs"; fi
echo "crashtest: ext4 $size, ${total} flush points$db, checked $checked$explored ($range)${broken:+ with --broken replay}, $unclean unclean"
[ "$unclean" = 0 ]
