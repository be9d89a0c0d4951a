using System.Runtime.InteropServices;

namespace Blkmq;

/// <summary>One ended, timed IO as an <see cref="IRequestEndObserver"/> sees it.</summary>
[StructLayout(LayoutKind.Auto)]
public readonly struct RequestEnd
{
    internal RequestEnd(RequestOp op, int bytes, BlockStatus status, int slot, long latencyNanoseconds)
    {
        Op = op;
        Bytes = bytes;
        Status = status;
        Slot = slot;
        LatencyNanoseconds = latencyNanoseconds;
    }

    /// <summary>Gets the operation.</summary>
    public RequestOp Op { get; }

    /// <summary>Gets the length in bytes.</summary>
    public int Bytes { get; }

    /// <summary>Gets the status it ended with.</summary>
    public BlockStatus Status { get; }

    /// <summary>Gets the request slot that carried it, in [0, <see cref="TagSetCore.RequestCount"/>) of the tag set below: a shard index for per-slot counters.</summary>
    public int Slot { get; }

    /// <summary>Gets the time from submission below to the end in nanoseconds.</summary>
    public long LatencyNanoseconds { get; }
}
