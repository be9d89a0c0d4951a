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

    /// <summary>
    /// Tag numbers follow the processor the submitter runs on (sbitmap's per-processor hints) and are not the seed's;
    /// nothing the seed orders may depend on them.
    /// </summary>
    [Fact]
    public void ManySeeds_EachReplaysExactly()
    {
        var differing = new List<ulong>();
        for (ulong seed = 500; seed < 560; seed++)
        {
            SimulationResult first = Infrastructure.Simulation.Run(new SimulationOptions { Seed = seed, TraceLines = 0 });
            SimulationResult second = Infrastructure.Simulation.Run(new SimulationOptions { Seed = seed, TraceLines = 0 });
            if (first.TraceHash != second.TraceHash || first.Steps != second.Steps)
            {
                differing.Add(seed);
            }
        }

        Assert.True(differing.Count == 0, $"seeds that did not replay: {string.Join(", ", differing)}; {FirstDivergence(differing.FirstOrDefault())}");
    }

    private static string FirstDivergence(ulong seed)
    {
        if (seed == 0)
        {
            return string.Empty;
        }

        List<string> first = Trace(seed);
        List<string> second = Trace(seed);
        for (int i = 0; i < Math.Min(first.Count, second.Count); i++)
        {
            if (first[i] != second[i])
            {
                return $"seed {seed} first differs at:\n  {string.Join("\n  ", first.Skip(Math.Max(0, i - 8)).Take(12))}\nversus\n  {string.Join("\n  ", second.Skip(Math.Max(0, i - 8)).Take(12))}";
            }
        }

        return $"seed {seed}: traces of {first.Count} and {second.Count} events";
    }

    private static List<string> Trace(ulong seed)
    {
        var lines = new List<string>();
        Infrastructure.Simulation.Run(new SimulationOptions { Seed = seed, TraceLines = 1_000_000, Observer = lines.Add });
        return lines;
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
