#!/usr/bin/env bash
# What metrics cost per IO: `blkmq bench` on the null driver (irqmode=0, the full path: tags, dispatch, completion,
# statistics) run up to four ways, interleaved, medians of N reps:
#   base     the build of another checkout (optional, BASE=/path/to/blkmq: e.g. main before a change)
#   off      this build, no listener (the observable instruments cost nothing until collected)
#   on       this build with `--metrics 127.0.0.1:0`: OpenTelemetry's Prometheus exporter listening, the latency
#            histogram blkmq.request.duration recorded for a sample of IOs (the default, --metrics-latency sampled)
#   every    as on, with --metrics-latency every: two precise timestamps and one Histogram.Record per IO
# Ratios are IOPS / off IOPS (and / base) and CPU ns per IO. On a shared, loaded machine only the ratios mean anything.
#
# Usage: [BASE=/path/to/base/blkmq] bench/peer/metrics.sh [--runtime SECONDS] [--reps N]
set -euo pipefail

runtime=3
reps=5
while [[ $# -gt 0 ]]; do
    case "$1" in
        --runtime) runtime="$2"; shift 2 ;;
        --reps) reps="$2"; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "metrics.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
blkmq="$root/src/Blkmq.Cli/bin/Release/net10.0/blkmq"
base="${BASE:-}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# name|rw|bs|iodepth|jobs
cases=(
    "4k randread qd1 j1|randread|4k|1|1"
    "4k randread qd32 j1|randread|4k|32|1"
    "4k randread qd32 j2|randread|4k|32|2"
)
variants=(off on every)
[[ -n "$base" ]] && variants=(base "${variants[@]}")

run() { # variant rw bs qd jobs out
    local bin="$blkmq" extra=()
    [[ "$1" == base ]] && bin="$base"
    [[ "$1" == on ]] && extra=(--metrics 127.0.0.1:0 --metrics-latency sampled)
    [[ "$1" == every ]] && extra=(--metrics 127.0.0.1:0 --metrics-latency every)
    "$bin" bench --driver null --irqmode 0 --rw "$2" --bs "$3" --iodepth "$4" --jobs "$5" \
        --runtime "$runtime" --size 1G --json "${extra[@]}" >"$6" 2>/dev/null || true
}

for rep in $(seq 1 "$reps"); do
    for i in "${!cases[@]}"; do
        IFS='|' read -r name rw bs qd jobs <<<"${cases[$i]}"
        # Rotate the order each rep, so no variant always runs first (or right after another's warm CPU).
        for k in "${!variants[@]}"; do
            v="${variants[$(( (k + rep + i) % ${#variants[@]} ))]}"
            echo "  rep $rep $name $v" >&2
            run "$v" "$rw" "$bs" "$qd" "$jobs" "$work/$v-$i-$rep.json"
        done
    done
done

CASES="$(printf '%s\n' "${cases[@]}" | cut -d'|' -f1)" VARIANTS="${variants[*]}" python3 - "$work" "$reps" <<'PY'
import json, os, statistics, sys
work, reps = sys.argv[1], int(sys.argv[2])
names = os.environ["CASES"].splitlines()
variants = os.environ["VARIANTS"].split()
def load(v, i, r):
    try:
        with open(f"{work}/{v}-{i}-{r}.json") as f:
            d = json.load(f)
        return d if d.get("errors", 1) == 0 else None
    except (OSError, ValueError):
        return None
others = [v for v in variants if v != "off"]
print("| case | off IOPS | " + " | ".join(f"{v} / off" for v in others) + " | CPU ns/IO " + ", ".join(variants)
      + " | bytes/IO " + ", ".join(variants) + " | per-rep on/off range |")
print("| --- | ---: | " + " | ".join("---:" for _ in others) + " | ---: | ---: | ---: |")
for i, name in enumerate(names):
    runs = {v: [load(v, i, r) for r in range(1, reps + 1)] for v in variants}
    med = {v: statistics.median([d["iops"] for d in runs[v] if d] or [0]) for v in runs}
    cpu = {v: statistics.median([d["cpu_ns_per_io"] for d in runs[v] if d] or [0]) for v in runs}
    alloc = {v: statistics.median([d["alloc_bytes_per_io"] for d in runs[v] if d] or [0]) for v in runs}
    pairs = [b["iops"] / a["iops"] for a, b in zip(runs["off"], runs["on"]) if a and b]
    rng = f"{min(pairs):.2f}-{max(pairs):.2f}" if pairs else "n/a"
    r = lambda a, b: f"{med[a] / med[b]:.3f}" if med[b] else "n/a"
    print(f"| {name} | {med['off']:,.0f} | " + " | ".join(r(v, "off") for v in others) + " | "
          + ", ".join(f"{cpu[v]:.0f}" for v in variants) + " | " + ", ".join(f"{alloc[v]:.3f}" for v in variants)
          + f" | {rng} |")
PY
