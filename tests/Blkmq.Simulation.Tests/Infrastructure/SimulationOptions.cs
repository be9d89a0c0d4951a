namespace Blkmq.Simulation.Tests.Infrastructure;

/// <summary>One simulation run: the seed, and what the seed does not choose.</summary>
internal sealed record SimulationOptions
{
    public required ulong Seed { get; init; }

    /// <summary>Gets how many IOs the workload submits (the verification reads after power cuts come on top).</summary>
    public int Operations { get; init; } = 300;

    /// <summary>Gets faults to use instead of those the seed picks (the broken-promise tests).</summary>
    public SimFaults? Faults { get; init; }

    /// <summary>Gets how many recent events a failure report shows.</summary>
    public int TraceLines { get; init; } = 40;

    /// <summary>Gets a sink for every traced event (the replay tests compare two runs line by line).</summary>
    public Action<string>? Observer { get; init; }
}
