using System.Runtime.InteropServices;

namespace Blkmq.Simulation.Tests.Infrastructure;

/// <summary>The simulated driver's per-request data: its answer to a timeout, drawn when the request arrives.</summary>
[StructLayout(LayoutKind.Auto)]
internal struct SimRequest
{
    public TimeoutAction TimeoutAnswer;
    public int Resets;
}
