using System.Collections.Concurrent;

namespace Blkmq.Concurrency.Tests.Infrastructure;

/// <summary>The probe driver's per-hardware-queue data: requests parked on a poll queue until polled.</summary>
public sealed class ProbeHwQueue(int index, bool isPoll)
{
    /// <summary>Gets the queue's index.</summary>
    public int Index { get; } = index;

    /// <summary>Gets whether this is a poll queue.</summary>
    public bool IsPoll { get; } = isPoll;

    /// <summary>Gets whether <c>ExitHctx</c> ran for this queue.</summary>
    public bool Exited { get; internal set; }

    /// <summary>Gets the requests waiting for a poll.</summary>
    public ConcurrentQueue<Request<ProbeRequest>> Polled { get; } = new();
}
