#!/usr/bin/env bash
# What a filter costs per IO (issue 13): `blkmq bench` on the null driver run three ways, interleaved, medians of N reps:
#   plain    the driver alone
#   pass     the driver under the empty filter ('DRIVER|pass': what the stack itself costs)
#   stats    the driver under 'stats' (counters and a latency histogram per IO)
# for 4k randread at iodepth 32 and 1, two jobs, with irqmode=0 (ended inside QueueRq) and irqmode=1 (ended on the
# queue's completion context). Ratios are IOPS / plain IOPS (the target: >= 0.9) and CPU ns per IO. On a shared,
# loaded machine only the ratios mean anything.
#
# Usage: bench/peer/filters.sh [--runtime SECONDS] [--reps N] [--cases LIST]
#   --runtime  seconds per run (default 3; bench adds a 0.5 s warmup that is not measured)
#   --reps     runs per variant and case, interleaved (default 5); the table shows medians
#   --cases    comma-separated case numbers to run (default all: 1-5, in the table's order)
#   --stats    the filter the stats variant runs (default 'stats'; e.g. 'stats:sample=16')
#   BLKMQ=/path/to/blkmq measures another build (default this checkout's Release build).
set -euo pipefail

runtime=3
reps=5
only=""
stats_filter="stats"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --runtime) runtime="$2"; shift 2 ;;
        --reps) reps="$2"; shift 2 ;;
        --cases) only="$2"; shift 2 ;;
        --stats) stats_filter="$2"; shift 2 ;;
        -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "filters.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
blkmq="${BLKMQ:-$root/src/Blkmq.Cli/bin/Release/net10.0/blkmq}"
[[ -x "$blkmq" ]] || { echo "filters.sh: no $blkmq (dotnet build -c Release src/Blkmq.Cli)" >&2; exit 2; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# name|driver|iodepth|jobs
all_cases=(
    "irqmode=0 qd32 j1|null:irqmode=0|32|1"
    "irqmode=0 qd1 j1|null:irqmode=0|1|1"
    "irqmode=0 qd32 j2|null:irqmode=0|32|2"
    "irqmode=1 qd32 j1|null:irqmode=1|32|1"
    "irqmode=1 qd1 j1|null:irqmode=1|1|1"
)
cases=()
for i in "${!all_cases[@]}"; do
    if [[ -z "$only" || ",$only," == *",$((i + 1)),"* ]]; then
        cases+=("${all_cases[$i]}")
    fi
done
variants=(plain pass stats)

run() { # variant driver qd jobs out
    local stack="$2"
    [[ "$1" == pass ]] && stack="$2|pass"
    [[ "$1" == stats ]] && stack="$2|$stats_filter"
    "$blkmq" bench --driver "$stack" --rw randread --bs 4k --iodepth "$3" --jobs "$4" \
        --runtime "$runtime" --size 1G --json >"$5" 2>/dev/null || true
}

for rep in $(seq 1 "$reps"); do
    for i in "${!cases[@]}"; do
        IFS='|' read -r name driver qd jobs <<<"${cases[$i]}"
        # Rotate the order each rep, so no variant always runs first (or right after another's warm CPU).
        for k in 0 1 2; do
            v="${variants[$(( (k + rep + i) % 3 ))]}"
            echo "  rep $rep/$reps $name $v" >&2
            run "$v" "$driver" "$qd" "$jobs" "$work/$v-$i-$rep.json"
        done
    done
done

echo "blkmq bench --driver 'D[|pass|$stats_filter]' --rw randread --bs 4k --runtime $runtime --size 1G --json; $reps reps interleaved, medians"
echo
CASES="$(printf '%s\n' "${cases[@]}" | cut -d'|' -f1)" python3 - "$work" "$reps" <<'PY'
import json, os, statistics, sys
work, reps = sys.argv[1], int(sys.argv[2])
names = os.environ["CASES"].splitlines()
def load(v, i, r):
    try:
        with open(f"{work}/{v}-{i}-{r}.json") as f:
            d = json.load(f)
        return d if d.get("errors", 1) == 0 else None
    except (OSError, ValueError):
        return None
print("| case | plain IOPS | pass / plain | stats / plain | CPU ns/IO plain, pass, stats | bytes/IO pass, stats | per-rep pass/plain range |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for i, name in enumerate(names):
    runs = {v: [load(v, i, r) for r in range(1, reps + 1)] for v in ("plain", "pass", "stats")}
    med = {v: statistics.median([d["iops"] for d in runs[v] if d] or [0]) for v in runs}
    cpu = {v: statistics.median([d["cpu_ns_per_io"] for d in runs[v] if d] or [0]) for v in runs}
    alloc = {v: statistics.median([d["alloc_bytes_per_io"] for d in runs[v] if d] or [0]) for v in runs}
    pairs = [b["iops"] / a["iops"] for a, b in zip(runs["plain"], runs["pass"]) if a and b]
    rng = f"{min(pairs):.2f}-{max(pairs):.2f}" if pairs else "n/a"
    r = lambda a, b: f"{med[a] / med[b]:.2f}" if med[b] else "n/a"
    print(f"| {name} | {med['plain']:,.0f} | {r('pass','plain')} | {r('stats','plain')} | "
          f"{cpu['plain']:.0f}, {cpu['pass']:.0f}, {cpu['stats']:.0f} | {alloc['pass']:.3f}, {alloc['stats']:.3f} | {rng} |")
PY
