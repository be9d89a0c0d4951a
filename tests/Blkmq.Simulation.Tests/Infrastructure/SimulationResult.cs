namespace Blkmq.Simulation.Tests.Infrastructure;

/// <summary>What one run did; a failed run's <see cref="Failure"/> names its seed and the replay command.</summary>
internal sealed record SimulationResult
{
    public required ulong Seed { get; init; }

    public required ulong TraceHash { get; init; }

    public required long Steps { get; init; }

    public required long VirtualNanoseconds { get; init; }

    public required long Ios { get; init; }

    public required long Errors { get; init; }

    public required int Crashes { get; init; }

    public required long Timeouts { get; init; }

    public string? Failure { get; init; }

    /// <summary>Gets how often each kind of event ran and each fault fired.</summary>
    public required IReadOnlyDictionary<string, long> Counters { get; init; }
}
