namespace Blkmq.Simulation.Tests.Infrastructure;

/// <summary>
/// How the simulated disk misbehaves in one run, all within what Blkmq promises to survive (docs/simulation.md,
/// "Fault model"). Probabilities are per IO unless said otherwise; a seed picks them (<see cref="Pick"/>).
/// </summary>
internal sealed record SimFaults
{
    public double ReadError { get; init; }

    public double WriteError { get; init; }

    /// <summary>Of the failed writes, how many land on some of their sectors anyway (a torn failed write).</summary>
    public double PartialWrite { get; init; }

    public double Busy { get; init; }

    /// <summary>QueueRq throws (rule 6: the request ends with an error, the queue runs on).</summary>
    public double Throw { get; init; }

    /// <summary>Ends inside QueueRq (irqmode 0).</summary>
    public double Inline { get; init; }

    /// <summary>Completes inside QueueRq through the completion context (irqmode 1).</summary>
    public double SoftIrq { get; init; }

    /// <summary>Of the later completions, how many go through Complete instead of End.</summary>
    public double LateComplete { get; init; }

    public long LatencyMin { get; init; } = 5_000;

    public long LatencyMax { get; init; } = 200_000;

    /// <summary>A latency spike: the IO takes 1 to 40 ms, past the request timeout for some.</summary>
    public double Spike { get; init; }

    /// <summary>After ending a request, the driver ends it again through the same handle (rule 1 says: refused, harmless).</summary>
    public double DuplicateEnd { get; init; }

    /// <summary>On a timeout, the driver answers WillEnd (else Done, or ResetTimer at <see cref="ResetTimer"/>).</summary>
    public double WillEnd { get; init; }

    public double ResetTimer { get; init; }

    /// <summary>Power cuts in the run: unflushed writes are kept or lost per sector, in-flight IO fails.</summary>
    public int Crashes { get; init; }

    /// <summary>A broken promise, for the tests that prove the checks can fail: flush acknowledged, nothing written back.</summary>
    public bool LieAboutFlush { get; init; }

    /// <summary>A broken promise: a read acknowledged without data for one sector in 64 (the buffer left as it was).</summary>
    public bool SkipReadData { get; init; }

    public static SimFaults Pick(SimRandom random)
    {
        bool faulty = random.Next(4) != 0;
        return new SimFaults
        {
            ReadError = faulty ? random.NextDouble() * 0.05 : 0,
            WriteError = faulty ? random.NextDouble() * 0.05 : 0,
            PartialWrite = random.NextDouble(),
            Busy = random.Next(3) == 0 ? random.NextDouble() * 0.1 : 0,
            Throw = faulty && random.Next(4) == 0 ? 0.01 : 0,
            Inline = random.NextDouble() * 0.4,
            SoftIrq = random.NextDouble() * 0.3,
            LateComplete = random.NextDouble(),
            LatencyMin = random.Next(1_000, 20_000),
            LatencyMax = random.Next(20_000, 500_000),
            Spike = faulty ? random.NextDouble() * 0.03 : 0,
            DuplicateEnd = random.NextDouble() * 0.1,
            WillEnd = random.NextDouble(),
            ResetTimer = random.NextDouble() * 0.2,
            Crashes = random.Next(4),
        };
    }
}
