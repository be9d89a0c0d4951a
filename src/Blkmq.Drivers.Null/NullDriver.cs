using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Blkmq.Drivers.Null;

/// <summary>
/// The null block driver (Linux <c>null_blk</c>, the RFC's <c>rnull</c>): completes every request without a
/// device, inline, through the completion context, or after <c>completion_nsec</c> on a per-queue timer; with
/// <c>memory_backed</c> it keeps the data in sparse pages so it reads back what was written. Its other features
/// (write cache, bad blocks, zones, bandwidth limit, fault injection) sit behind one flag per disk, so the plain
/// driver pays a single field read for them.
/// </summary>
public readonly struct NullDriver : IBlockDriver<NullRequest, NullHwQueue, NullDevice>
{
    /// <summary>
    /// Gets true: the null driver's queue data (timer, poll list) and device features lock what they share, so
    /// submitters on different processors dispatch to one queue at once, as null_blk's <c>queue_rq</c> does.
    /// </summary>
    public static bool ConcurrentQueueRq => true;

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public BlockStatus QueueRq(ref NullHwQueue hwQueue, NullDevice disk, Request<NullRequest> request, bool isLast)
    {
        BlockStatus status = BlockStatus.Ok;
        if (disk.HasFeatures)
        {
            status = disk.Handle(request);
            if (status >= BlockStatus.Busy)
            {
                // Busy: the block layer requeues the request. Dropped: a timeout fault; nobody ends it, so the
                // block layer's timeout does.
                return status == NullDevice.Dropped ? BlockStatus.Ok : status;
            }
        }

        if (hwQueue.IsPoll)
        {
            hwQueue.AddPolled(request, status);
            return BlockStatus.Ok;
        }

        switch (disk.IrqMode)
        {
            case IrqMode.None:
                request.End(status);
                break;
            case IrqMode.SoftIrq:
                request.Complete(status);
                break;
            default:
                hwQueue.Timer!.Add(request, status, Stopwatch.GetTimestamp() + disk.CompletionTicks);
                break;
        }

        return BlockStatus.Ok;
    }

    /// <inheritdoc/>
    /// <exception cref="IOException">An injected <c>init_hctx</c> fault.</exception>
    public NullHwQueue InitHctx(NullDevice disk, int hwQueueIndex)
    {
        if (disk.InitHctxFault?.ShouldFail() ?? false)
        {
            throw new IOException($"{disk.Name}: injected init_hctx fault on hardware queue {hwQueueIndex}.");
        }

        return new(disk, hwQueueIndex, hwQueueIndex >= disk.TagSet.HardwareQueueCount);
    }

    /// <inheritdoc/>
    public void ExitHctx(ref NullHwQueue hwQueue, NullDevice disk) => hwQueue.Dispose();

    /// <inheritdoc/>
    public NullRequest InitRequest(int hwQueueIndex, int tag) => default;

    /// <inheritdoc/>
    public int Poll(ref NullHwQueue hwQueue, NullDevice disk) => hwQueue.CompletePolled();
}
