using System.Globalization;
using Blkmq.Simulation.Tests.Infrastructure;

namespace Blkmq.Simulation.Tests;

/// <summary>A seed is a run: the same seed twice gives the same events in the same order, and a failing seed can be replayed.</summary>
public sealed class SimulationReplayTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(7UL)]
    [InlineData(1234UL)]
    [InlineData(987654321UL)]
    public void SameSeed_SameRun(ulong seed)
    {
        SimulationResult first = Infrastructure.Simulation.Run(new SimulationOptions { Seed = seed });
        SimulationResult second = Infrastructure.Simulation.Run(new SimulationOptions { Seed = seed });

        Assert.Null(first.Failure);
        Assert.Equal(first.TraceHash, second.TraceHash);
        Assert.Equal(first.Steps, second.Steps);
        Assert.Equal(first.VirtualNanoseconds, second.VirtualNanoseconds);
        Assert.Equal(first.Errors, second.Errors);
    }

    [Fact]
    public void DifferentSeeds_DifferentRuns()
    {
        SimulationResult first = Infrastructure.Simulation.Run(new SimulationOptions { Seed = 11 });
        SimulationResult second = Infrastructure.Simulation.Run(new SimulationOptions { Seed = 12 });

        Assert.NotEqual(first.TraceHash, second.TraceHash);
    }

    /// <summary>Replays <c>BLKMQ_SIM_SEED</c> with its trace (the command a failing seed prints); passes when unset.</summary>
    [Fact]
    public void Replay_SeedFromEnvironment()
    {
        string? text = Environment.GetEnvironmentVariable("BLKMQ_SIM_SEED");
        if (string.IsNullOrEmpty(text))
        {
            Assert.Skip("BLKMQ_SIM_SEED is not set: nothing to replay");
        }

        ulong seed = ulong.Parse(text, CultureInfo.InvariantCulture);
        int operations = Environment.GetEnvironmentVariable("BLKMQ_SIM_OPS") is { Length: > 0 } ops ? int.Parse(ops, CultureInfo.InvariantCulture) : 300;
        SimulationResult result = Infrastructure.Simulation.Run(new SimulationOptions { Seed = seed, Operations = operations, TraceLines = 200 });
        output.WriteLine($"seed {seed}: {result.Ios} IOs, {result.Errors} failed as injected, {result.Crashes} power cuts, {result.Steps} steps, {result.VirtualNanoseconds / 1_000_000.0:F1} ms simulated, trace {result.TraceHash:x16}");
        Assert.True(result.Failure is null, result.Failure);
    }
}
