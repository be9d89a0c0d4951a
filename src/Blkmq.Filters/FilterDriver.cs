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
internal readonly struct FilterDriver : IBlockDriver<FilterRequestData, FilterQueue, FilterDiskData>
{
    /// <summary>Filters keep no per-queue state: several submitters may be in <c>QueueRq</c> of one queue at once.</summary>
    public static bool ConcurrentQueueRq => true;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public BlockStatus QueueRq(ref FilterQueue hwQueue, FilterDiskData disk, Request<FilterRequestData> request, bool isLast)
    {
        FilterIo io = request.Data.Io;
        io.Start(disk.Disk, request);
        disk.Disk.Filter.Queue(io);
        return BlockStatus.Ok;
    }

    /// <inheritdoc/>
    public FilterQueue InitHctx(FilterDiskData disk, int hwQueueIndex) => default;

    /// <inheritdoc/>
    public FilterRequestData InitRequest(int hwQueueIndex, int tag) => new(new FilterIo());

    /// <inheritdoc/>
    public TimeoutAction Timeout(FilterDiskData disk, Request<FilterRequestData> request) => TimeoutAction.WillEnd;
}
