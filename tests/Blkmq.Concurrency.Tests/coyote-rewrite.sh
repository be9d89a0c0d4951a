#!/bin/sh
# Builds the concurrency tests, rewrites them and the core with Coyote (dotnet tool Microsoft.Coyote.CLI, which
# targets .NET 8: rolled forward here), and runs the systematic tests from the rewritten copy.
set -e
cd "$(dirname "$0")"
dotnet build
DOTNET_ROLL_FORWARD=Major coyote rewrite coyote-rewrite.json
dotnet bin/Debug/net10.0/coyote/Blkmq.Concurrency.Tests.dll -class 'Blkmq.Concurrency.Tests.CoyoteEndRaceTests' "$@"
