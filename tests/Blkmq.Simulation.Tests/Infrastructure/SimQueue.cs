namespace Blkmq.Simulation.Tests.Infrastructure;

/// <summary>The simulated driver's per-hardware-queue data.</summary>
internal sealed class SimQueue(int index)
{
    public int Index { get; } = index;
}
