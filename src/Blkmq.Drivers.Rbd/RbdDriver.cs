using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Blkmq.Drivers.Rbd;

/// <summary>
/// The RBD driver: <c>QueueRq</c> hands each request to librbd (<c>rbd_aio_*</c>) at once; librbd calls back on its
/// own thread, which only records the result and passes the tag to the hardware queue's completion thread
/// (<see cref="RbdHwQueue"/>), which ends requests in batches. A request that times out is answered
/// <see cref="TimeoutAction.WillEnd"/>: librbd cannot cancel an IO and may still fill its buffers (rule 8).
/// </summary>
[StructLayout(LayoutKind.Auto)]
public readonly struct RbdDriver : IBlockDriver<RbdRequest, RbdHwQueue, RbdImage>
{
    private readonly int _depth;
    private readonly int _maxSegments;

    /// <summary>Initializes a new instance of the <see cref="RbdDriver"/> struct.</summary>
    /// <param name="depth">The tag set's depth per hardware queue.</param>
    /// <param name="maxSegments">The tag set's segments per request.</param>
    public RbdDriver(int depth, int maxSegments)
    {
        _depth = depth;
        _maxSegments = maxSegments;
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public BlockStatus QueueRq(ref RbdHwQueue hwQueue, RbdImage disk, Request<RbdRequest> request, bool isLast) =>
        hwQueue.Submit(request);

    /// <inheritdoc/>
    public RbdHwQueue InitHctx(RbdImage disk, int hwQueueIndex)
    {
        var queue = new RbdHwQueue(disk, hwQueueIndex, _depth, _maxSegments);

        // Timeout is not given the queue's data: the image keeps the queues by index for it.
        disk.HwQueues[hwQueueIndex] = queue;
        return queue;
    }

    /// <inheritdoc/>
    public void ExitHctx(ref RbdHwQueue hwQueue, RbdImage disk) => hwQueue.Dispose();

    /// <inheritdoc/>
    public RbdRequest InitRequest(int hwQueueIndex, int tag) => default;

    /// <inheritdoc/>
    public TimeoutAction Timeout(RbdImage disk, Request<RbdRequest> request)
    {
        RbdLog.TimedOut(disk.Logger, disk.Name, request.Token.Value);
        return TimeoutAction.WillEnd;
    }
}
