namespace Blkmq.Simulation.Tests.Infrastructure;

/// <summary>An invariant the simulator checks did not hold; the message names the seed and how to replay it.</summary>
internal sealed class SimulationFailure : Exception
{
    public SimulationFailure(string message)
        : base(message)
    {
    }

    public SimulationFailure()
    {
    }

    public SimulationFailure(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
