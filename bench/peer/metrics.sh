#!/usr/bin/env bash
# What metrics cost per IO: `blkmq bench` on the null driver (irqmode=0, the full path: tags, dispatch, completion,
# statistics) run three ways, interleaved, medians of N reps:
#   base     the build of another checkout (default: main before metrics, BASE=/path/to/blkmq)
#   off      this build, no listener (the observable instruments cost nothing until collected)
#   on       this build with `--metrics 127.0.0.1:0`: OpenTelemetry's Prometheus exporter listening, so the latency
#            histogram blkmq.request.duration is recorded per IO (two precise timestamps and one Record)
# Ratios are IOPS / base IOPS and CPU ns per IO / base. On a shared, loaded machine only the ratios mean anything.
#
# Usage: BASE=/path/to/base/blkmq bench/peer/metrics.sh [--runtime SECONDS] [--reps N]
set -euo pipefail

runtime=3
reps=5
while [[ $# -gt 0 ]]; do
    case "$1" in
        --runtime) runtime="$2"; shift 2 ;;
        --reps) reps="$2"; shift 2 ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "metrics.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
blkmq="$root/src/Blkmq.Cli/bin/Release/net10.0/blkmq"
base="${BASE:?set BASE to the blkmq of the build to compare with (e.g. main built in another directory)}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# name|rw|bs|iodepth|jobs
cases=(
    "4k randread qd1 j1|randread|4k|1|1"
    "4k randread qd32 j1|randread|4k|32|1"
    "4k randread qd32 j2|randread|4k|32|2"
)
variants=(base off on)

run() { # variant rw bs qd jobs out
    local bin="$blkmq" extra=()
    [[ "$1" == base ]] && bin="$base"
    [[ "$1" == on ]] && extra=(--metrics 127.0.0.1:0)
    "$bin" bench --driver null --irqmode 0 --rw "$2" --bs "$3" --iodepth "$4" --jobs "$5" \
        --runtime "$runtime" --size 1G --json "${extra[@]}" >"$6" 2>/dev/null || true
}

for rep in $(seq 1 "$reps"); do
    for i in "${!cases[@]}"; do
        IFS='|' read -r name rw bs qd jobs <<<"${cases[$i]}"
        # Rotate the order each rep, so no variant always runs first (or right after another's warm CPU).
        for k in 0 1 2; do
            v="${variants[$(( (k + rep + i) % 3 ))]}"
            echo "  rep $rep $name $v" >&2
            run "$v" "$rw" "$bs" "$qd" "$jobs" "$work/$v-$i-$rep.json"
        done
    done
done

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
print(f"| case | base IOPS | off / base | on / base | on / off | CPU ns/IO base, off, on | bytes/IO off, on | per-rep on/off range |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for i, name in enumerate(names):
    runs = {v: [load(v, i, r) for r in range(1, reps + 1)] for v in ("base", "off", "on")}
    med = {v: statistics.median([d["iops"] for d in runs[v] if d] or [0]) for v in runs}
    cpu = {v: statistics.median([d["cpu_ns_per_io"] for d in runs[v] if d] or [0]) for v in runs}
    alloc = {v: statistics.median([d["alloc_bytes_per_io"] for d in runs[v] if d] or [0]) for v in runs}
    pairs = [b["iops"] / a["iops"] for a, b in zip(runs["off"], runs["on"]) if a and b]
    rng = f"{min(pairs):.2f}-{max(pairs):.2f}" if pairs else "n/a"
    r = lambda a, b: f"{med[a] / med[b]:.3f}" if med[b] else "n/a"
    print(f"| {name} | {med['base']:,.0f} | {r('off','base')} | {r('on','base')} | {r('on','off')} | "
          f"{cpu['base']:.0f}, {cpu['off']:.0f}, {cpu['on']:.0f} | {alloc['off']:.3f}, {alloc['on']:.3f} | {rng} |")
PY
