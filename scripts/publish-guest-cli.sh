#!/usr/bin/env bash
# scripts/publish-guest-cli.sh DIR: publishes src/Blkmq.Cli (Release) to DIR for the emulated guest of
# kernel-nbd-check.sh and ublk-check.sh. The guest has no network (no NuGet) and runs under TCG, where the JIT is
# 20-30x slower than here: a plain build spends 10-15 s of every server start compiling. So the build is ReadyToRun
# (precompiled; framework-dependent, linux-x64), which starts in about half the time; the JIT still recompiles hot
# methods as usual. Where the ReadyToRun packages cannot be restored, it falls back to a plain publish and says so.
# With BLKMQ_GUEST_PUB set to a folder it published before, DIR becomes a link to that folder instead.
# Prints nothing on success; on failure the publish log's end, and returns 1.
set -euo pipefail

dir="${1:?usage: publish-guest-cli.sh DIR}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
project="$root/src/Blkmq.Cli/Blkmq.Cli.csproj"
if [ -x "${BLKMQ_GUEST_PUB:-}/blkmq" ]; then
  # Published once already for several checks (scripts/test.sh): DIR becomes a link to that folder.
  rmdir "$dir" 2>/dev/null || true
  ln -sfn "$BLKMQ_GUEST_PUB" "$dir"
  exit 0
fi
mkdir -p "$dir"
if dotnet publish "$project" -c Release -r linux-x64 --self-contained false -p:PublishReadyToRun=true -o "$dir" \
    -nologo -v quiet >"$dir.log" 2>&1; then
  exit 0
fi

echo "publish-guest-cli: the ReadyToRun publish failed (log: $dir.log); publishing without it" >&2
tail -5 "$dir.log" >&2
if ! dotnet publish "$project" -c Release -o "$dir" -nologo -v quiet >"$dir.log" 2>&1; then
  tail -30 "$dir.log"
  exit 1
fi
