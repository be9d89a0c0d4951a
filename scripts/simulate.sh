#!/usr/bin/env bash
# Runs many seeds of the whole-stack simulation (tests/Blkmq.Simulation.Tests), split over parallel processes.
#   scripts/simulate.sh [FIRST] [COUNT] [JOBS]     defaults: 1 1000000 <processors>
# Each process runs SimulationSeedTests over its share of [FIRST, FIRST+COUNT) in chunks of BLKMQ_SIM_CHUNK seeds
# (default 20000) and stops at its first failing chunk; every failure prints "SEED=n: ..." and the command that
# replays it. BLKMQ_SIM_OPS sets the IOs per seed (default 300). Exit status 1 when any seed failed.
set -uo pipefail
cd "$(dirname "$0")/.."

first=${1:-1}
count=${2:-1000000}
jobs=${3:-$(nproc)}
chunk=${BLKMQ_SIM_CHUNK:-20000}
dll=tests/Blkmq.Simulation.Tests/bin/Release/net10.0/Blkmq.Simulation.Tests.dll

if ! dotnet build tests/Blkmq.Simulation.Tests -c Release -nologo -v quiet >/dev/null; then
  echo "build failed"
  exit 1
fi

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
start=$(date +%s)
per=$(( (count + jobs - 1) / jobs ))
pids=()
for ((j = 0; j < jobs; j++)); do
  from=$(( first + j * per ))
  to=$(( first + count < from + per ? first + count : from + per ))
  (( from >= to )) && continue
  (
    for ((s = from; s < to; s += chunk)); do
      n=$(( to - s < chunk ? to - s : chunk ))
      if ! BLKMQ_SIM_FIRST=$s BLKMQ_SIM_COUNT=$n dotnet "$dll" -noColor -class Blkmq.Simulation.Tests.SimulationSeedTests >"$logs/chunk-$s.log" 2>&1; then
        echo "seeds $s..$(( s + n - 1 )): FAILED"
        exit 1
      fi
      echo "seeds $s..$(( s + n - 1 )): ok"
    done
  ) &
  pids+=($!)
done

status=0
for pid in "${pids[@]}"; do
  wait "$pid" || status=1
done

grep -h "SEED=" "$logs"/*.log | sed 's/^ *//' | sort -u || true
grep -h -A2 "SEED=" "$logs"/*.log | grep "replay:" | sed 's/^ *//' | sort -u | head -5 || true
echo "$count seeds from $first in $(( $(date +%s) - start )) s on $jobs processes: $([ $status = 0 ] && echo "all invariants held" || echo "FAILURES above")"
exit $status
