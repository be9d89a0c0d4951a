#!/usr/bin/env bash
# Blkmq against a peer measured in the same run: fio's null engine (raw per-IO cost of an IO engine with no
# device) beside `blkmq bench` on the null driver with irqmode=0, same load and runtime, repetitions
# interleaved, medians reported. A second table covers completion modes fio's null engine has no
# counterpart for (Blkmq only).
#
# Usage: bench/peer/run.sh [--runtime SECONDS] [--reps N] [--json FILE]
#   --runtime  seconds per run (default 4; blkmq adds a 0.5 s warmup that is not measured)
#   --reps     runs per tool and case, interleaved (default 3); the table shows medians
#   --json     also write the tables, with every run's figures, to FILE
set -euo pipefail

runtime=4
reps=3
json_out=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --runtime) runtime="$2"; shift 2 ;;
        --reps) reps="$2"; shift 2 ;;
        --json) json_out="$2"; shift 2 ;;
        -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

if ! command -v fio >/dev/null 2>&1; then
    echo "Installing fio..." >&2
    apt-get install -y fio >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y fio >/dev/null; }
fi
if ! command -v python3 >/dev/null 2>&1; then
    echo "run.sh: python3 is needed to read the JSON results" >&2
    exit 2
fi

echo "Building src/Blkmq.Cli (Release)..." >&2
dotnet build -c Release "$root/src/Blkmq.Cli/Blkmq.Cli.csproj" --nologo -v quiet >&2
blkmq="$root/src/Blkmq.Cli/bin/Release/net10.0/blkmq"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# name|rw|bs|iodepth|numjobs
peer_cases=(
    "4k randread qd1 j1|randread|4k|1|1"
    "4k randread qd32 j1|randread|4k|32|1"
    "4k randread qd32 j2|randread|4k|32|2"
    "128k read qd8 j1|read|128k|8|1"
)
# name|extra blkmq options (Blkmq only: fio's null engine has no completion modes)
solo_cases=(
    "4k randread qd32 softirq|--rw randread --bs 4k --iodepth 32 --jobs 1 --irqmode 1"
    "4k randread qd1 timer 100us|--rw randread --bs 4k --iodepth 1 --jobs 1 --irqmode 2 --completion-nsec 100000"
)

runs=$(( reps * (${#peer_cases[@]} * 2 + ${#solo_cases[@]}) ))
echo "Running $runs runs of ${runtime} s (fio null engine and blkmq bench, interleaved)..." >&2
n=0
for rep in $(seq 1 "$reps"); do
    for i in "${!peer_cases[@]}"; do
        IFS='|' read -r name rw bs qd jobs <<<"${peer_cases[$i]}"
        n=$((n + 1)); echo "  [$n/$runs] fio   $name (rep $rep)" >&2
        fio --ioengine=null --name=x --rw="$rw" --bs="$bs" --iodepth="$qd" --numjobs="$jobs" --group_reporting \
            --time_based --runtime="$runtime" --size=1G --output-format=json --output="$work/fio-$i-$rep.json" >/dev/null
        n=$((n + 1)); echo "  [$n/$runs] blkmq $name (rep $rep)" >&2
        # A failed run (exit 1: IO error or a stalled queue) still writes its JSON; the table shows it.
        "$blkmq" bench --driver null --irqmode 0 --rw "$rw" --bs "$bs" --iodepth "$qd" --jobs "$jobs" \
            --runtime "$runtime" --size 1G --json >"$work/blkmq-$i-$rep.json" 2>"$work/blkmq-$i-$rep.err" || true
    done
    for i in "${!solo_cases[@]}"; do
        IFS='|' read -r name options <<<"${solo_cases[$i]}"
        n=$((n + 1)); echo "  [$n/$runs] blkmq $name (rep $rep)" >&2
        # shellcheck disable=SC2086 # options are words on purpose
        "$blkmq" bench --driver null $options --runtime "$runtime" --size 1G --json \
            >"$work/solo-$i-$rep.json" 2>"$work/solo-$i-$rep.err" || true
    done
done

peer_names="$(printf '%s\n' "${peer_cases[@]}" | cut -d'|' -f1)"
solo_names="$(printf '%s\n' "${solo_cases[@]}" | cut -d'|' -f1)"
PEER_NAMES="$peer_names" SOLO_NAMES="$solo_names" python3 - "$work" "$reps" "$runtime" "$json_out" <<'PY'
import json, os, statistics, sys

work, reps, runtime, json_out = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
peer_names = os.environ["PEER_NAMES"].splitlines()
solo_names = os.environ["SOLO_NAMES"].splitlines()

def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

def fio_iops(doc):
    if doc is None:
        return None
    job = doc["jobs"][0]
    return job["read"]["iops"] + job["write"]["iops"]

def blkmq_figures(doc):
    if doc is None:
        return None
    return {
        "iops": doc["iops"],
        "p99_ns": doc["lat_ns"]["p99"],
        "mean_ns": doc["lat_ns"]["mean"],
        "cpu_ns_per_io": doc["cpu_ns_per_io"],
        "alloc_bytes_per_io": doc["alloc_bytes_per_io"],
        "errors": doc["errors"],
        "first_error": doc.get("first_error"),
    }

def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None

def fmt(value, spec):
    return "n/a" if value is None else format(value, spec)

def lat(ns):
    if ns is None:
        return "n/a"
    return f"{ns / 1000:.2f} us" if ns >= 1000 else f"{ns:.0f} ns"

def summarize(runs):
    ok = [r for r in runs if r is not None and r["errors"] == 0]
    failed = [r for r in runs if r is None or r["errors"] != 0]
    note = ""
    if failed:
        errors = sorted({(r or {}).get("first_error") or "no output" for r in failed})
        note = f"{len(failed)}/{len(runs)} runs failed: " + "; ".join(errors)
    return {key: median([r[key] for r in ok]) for key in ("iops", "p99_ns", "mean_ns", "cpu_ns_per_io", "alloc_bytes_per_io")}, note

peer_rows, solo_rows, notes = [], [], []
for i, name in enumerate(peer_names):
    fio_runs = [fio_iops(load(f"{work}/fio-{i}-{r}.json")) for r in range(1, reps + 1)]
    blkmq_runs = [blkmq_figures(load(f"{work}/blkmq-{i}-{r}.json")) for r in range(1, reps + 1)]
    med, note = summarize(blkmq_runs)
    fio_med = median(fio_runs)
    ratio = med["iops"] / fio_med if med["iops"] and fio_med else None
    peer_rows.append({"case": name, "fio_iops": fio_med, "blkmq_iops": med["iops"], "ratio": ratio,
                      "blkmq_p99_ns": med["p99_ns"], "blkmq_alloc_bytes_per_io": med["alloc_bytes_per_io"],
                      "blkmq_cpu_ns_per_io": med["cpu_ns_per_io"], "fio_runs": fio_runs, "blkmq_runs": blkmq_runs})
    if note:
        notes.append(f"{name}: {note}")

for i, name in enumerate(solo_names):
    runs = [blkmq_figures(load(f"{work}/solo-{i}-{r}.json")) for r in range(1, reps + 1)]
    med, note = summarize(runs)
    solo_rows.append({"case": name, "blkmq_iops": med["iops"], "blkmq_mean_ns": med["mean_ns"],
                      "blkmq_p99_ns": med["p99_ns"], "blkmq_cpu_ns_per_io": med["cpu_ns_per_io"],
                      "blkmq_alloc_bytes_per_io": med["alloc_bytes_per_io"], "runs": runs})
    if note:
        notes.append(f"{name}: {note}")

print(f"\nfio null engine vs blkmq bench (null driver, irqmode=0): medians of {reps} interleaved runs of {runtime:g} s")
header = f"{'case':<22} {'fio IOPS':>12} {'Blkmq IOPS':>12} {'ratio':>7} {'Blkmq p99':>11} {'Blkmq B/IO':>11}"
print(header)
print("-" * len(header))
for row in peer_rows:
    print(f"{row['case']:<22} {fmt(row['fio_iops'], ',.0f'):>12} {fmt(row['blkmq_iops'], ',.0f'):>12} "
          f"{fmt(row['ratio'], '.2f'):>7} {lat(row['blkmq_p99_ns']):>11} {fmt(row['blkmq_alloc_bytes_per_io'], '.4f'):>11}")

print(f"\nblkmq bench only (completion modes): medians of {reps} runs of {runtime:g} s")
header = f"{'case':<28} {'IOPS':>10} {'mean lat':>11} {'p99 lat':>11} {'CPU/IO':>11} {'B/IO':>8}"
print(header)
print("-" * len(header))
for row in solo_rows:
    cpu = "n/a" if row["blkmq_cpu_ns_per_io"] is None else f"{row['blkmq_cpu_ns_per_io']:.0f} ns"
    print(f"{row['case']:<28} {fmt(row['blkmq_iops'], ',.0f'):>10} {lat(row['blkmq_mean_ns']):>11} "
          f"{lat(row['blkmq_p99_ns']):>11} {cpu:>11} {fmt(row['blkmq_alloc_bytes_per_io'], '.4f'):>8}")

for note in notes:
    print(f"note: {note}")

if json_out:
    with open(json_out, "w") as f:
        json.dump({"runtime_s": runtime, "reps": reps, "peer": peer_rows, "blkmq_only": solo_rows, "notes": notes}, f, indent=2)
        f.write("\n")
    print(f"\nJSON written to {json_out}")
PY
