using System.Globalization;
using Blkmq.Simulation.Tests.Infrastructure;

namespace Blkmq.Simulation.Tests;

/// <summary>
/// Runs a range of seeds through the whole-stack simulation: 300 from seed 1 by default (the CI run), or the range
/// <c>BLKMQ_SIM_FIRST</c> / <c>BLKMQ_SIM_COUNT</c> that <c>scripts/simulate.sh</c> hands each of its processes.
/// </summary>
public sealed class SimulationSeedTests(ITestOutputHelper output)
{
    [Fact]
    public void SeedRange_EveryInvariantHolds()
    {
        ulong first = ReadSetting("BLKMQ_SIM_FIRST", 1);
        ulong count = ReadSetting("BLKMQ_SIM_COUNT", 300);
        int operations = (int)ReadSetting("BLKMQ_SIM_OPS", 300);
        var failures = new List<string>();
        long ios = 0;
        long errors = 0;
        long timeouts = 0;
        long crashes = 0;
        long steps = 0;
        var counters = new SortedDictionary<string, long>(StringComparer.Ordinal);
        for (ulong seed = first; seed < first + count; seed++)
        {
            SimulationResult result = Infrastructure.Simulation.Run(new SimulationOptions { Seed = seed, Operations = operations, TraceLines = 0 });
            if (result.Failure is not null)
            {
                // Run it again with a trace for the report: the same seed is the same run.
                SimulationResult traced = Infrastructure.Simulation.Run(new SimulationOptions { Seed = seed, Operations = operations });
                failures.Add(traced.Failure ?? result.Failure);
                output.WriteLine(traced.Failure ?? result.Failure);
                if (failures.Count >= 5)
                {
                    break;
                }
            }

            ios += result.Ios;
            errors += result.Errors;
            timeouts += result.Timeouts;
            crashes += result.Crashes;
            steps += result.Steps;
            foreach ((string key, long value) in result.Counters)
            {
                counters[key] = counters.GetValueOrDefault(key) + value;
            }
        }

        output.WriteLine($"seeds {first}..{first + count - 1}: {ios} IOs, {errors} failed as injected ({timeouts} timed out), {crashes} power cuts, {steps} steps");
        foreach ((string key, long value) in counters)
        {
            output.WriteLine($"  {key}: {value}");
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    private static ulong ReadSetting(string name, ulong fallback) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } text ? ulong.Parse(text, CultureInfo.InvariantCulture) : fallback;
}
