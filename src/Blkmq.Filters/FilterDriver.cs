using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Blkmq.Filters;

/// <summary>
/// The driver of every filter disk (device-mapper style): <c>QueueRq</c> hands the request to the disk's
/// <see cref="BlockFilter"/>, which ends it, parks it, or submits an IO to the disk below and ends the upper request
/// from the lower completion. The request's buffers stay the lower IO's until it ends, so a timeout or a removal is
/// answered <see cref="TimeoutAction.WillEnd"/>: every path a filter takes ends the request (the lower disk's own
/// timeout bounds the wait).
/// </summary>
[StructLayout(LayoutKind.Auto)]
internal readonly struct FilterDriver : IBlockDriver<FilterIo, FilterQueue, FilterDisk>
{
    /// <summary>Filters keep no per-queue state: several submitters may be in <c>QueueRq</c> of one queue at once.</summary>
    public static bool ConcurrentQueueRq => true;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public BlockStatus QueueRq(ref FilterQueue hwQueue, FilterDisk disk, Request<FilterIo> request, bool isLast)
    {
        FilterIo io = request.Data;
        io.Start(disk, request);
        disk.Filter.Queue(io);
        return BlockStatus.Ok;
    }

    /// <inheritdoc/>
    public FilterQueue InitHctx(FilterDisk disk, int hwQueueIndex) => FilterQueue.Instance;

    /// <inheritdoc/>
    public FilterIo InitRequest(int hwQueueIndex, int tag) => new();

    /// <inheritdoc/>
    public TimeoutAction Timeout(FilterDisk disk, Request<FilterIo> request) => TimeoutAction.WillEnd;
}
