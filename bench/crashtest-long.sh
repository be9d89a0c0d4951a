#!/usr/bin/env bash
# The long crash-consistency run (issue 13; CI runs a short one): scripts/crashtest.sh on ext4 with SQLite in WAL mode
# over memory|log-writes, every flush point checked exactly and with K random crash states right after it (replay
# --crash), for R rounds (each round a fresh workload: its data and the kernel's writeback timing differ), then one
# --broken run that must be caught. Needs root, /dev/fuse, loop devices, e2fsprogs and sqlite3.
#
# Usage: sudo bench/crashtest-long.sh [--rounds R] [--explore K] [--sqlite N] [--size 64M] [--mount-options OPTS]
# Exits 0 when every round is clean and the broken replay is caught, 1 otherwise.
set -uo pipefail
rounds=3 explore=4 sqlite=20 size=64M mount_options=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --explore) explore=$2; shift 2 ;;
    --sqlite) sqlite=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --mount-options) mount_options=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "crashtest-long: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
root="$(cd "$(dirname "$0")/.." && pwd)"
extra=()
[ -n "$mount_options" ] && extra=(--mount-options "$mount_options")
failed=0
for ((r = 1; r <= rounds; r++)); do
  echo "== round $r of $rounds"
  start=$SECONDS
  "$root/scripts/crashtest.sh" --size "$size" --sqlite "$sqlite" --explore "$explore" "${extra[@]}"
  rc=$?
  echo "round $r: exit $rc in $((SECONDS - start)) s"
  [ "$rc" = 0 ] || failed=1
done
echo "== broken replay (must be caught)"
out=$("$root/scripts/crashtest.sh" --size "$size" --sqlite "$sqlite" --broken "${extra[@]}" 2>&1)
rc=$?
echo "$out" | tail -3
if [ "$rc" = 1 ] && grep -q '^unclean: ' <<<"$out"; then echo "broken replay caught"; else echo "broken replay NOT caught (exit $rc)"; failed=1; fi
exit "$failed"
