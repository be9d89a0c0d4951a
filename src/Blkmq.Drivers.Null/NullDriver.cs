using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Blkmq.Drivers.Null;

/// <summary>
/// The null block driver (Linux <c>null_blk</c>, the RFC's <c>rnull</c>): completes every request without a
/// device, inline, through the completion context, or after <c>completion_nsec</c> on a per-queue timer; with
/// <c>memory_backed</c> it keeps the data in sparse pages so it reads back what was written.
/// </summary>
public readonly struct NullDriver : IBlockDriver<NullRequest, NullHwQueue, NullDevice>
{
    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public BlockStatus QueueRq(ref NullHwQueue hwQueue, NullDevice disk, Request<NullRequest> request, bool isLast)
    {
        BlockStatus status = disk.Store is null ? BlockStatus.Ok : Transfer(disk, request);
        if (hwQueue.IsPoll)
        {
            hwQueue.AddPolled(request, status);
            return BlockStatus.Ok;
        }

        switch (disk.Options.IrqMode)
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
    public NullHwQueue InitHctx(NullDevice disk, int hwQueueIndex) =>
        new(disk, hwQueueIndex, hwQueueIndex >= disk.Options.SubmitQueues);

    /// <inheritdoc/>
    public void ExitHctx(ref NullHwQueue hwQueue, NullDevice disk) => hwQueue.Dispose();

    /// <inheritdoc/>
    public NullRequest InitRequest(int hwQueueIndex, int tag) => default;

    /// <inheritdoc/>
    public int Poll(ref NullHwQueue hwQueue, NullDevice disk) => hwQueue.CompletePolled();

    private static BlockStatus Transfer(NullDevice disk, Request<NullRequest> request)
    {
        MemoryStore store = disk.Store!;
        long offset = request.Sector << 9;
        switch (request.Op)
        {
            case RequestOp.Read:
                foreach (Memory<byte> segment in request.Segments)
                {
                    store.Read(offset, segment.Span);
                    offset += segment.Length;
                }

                break;
            case RequestOp.Write:
                foreach (Memory<byte> segment in request.Segments)
                {
                    store.Write(offset, segment.Span);
                    offset += segment.Length;
                }

                break;
            case RequestOp.Discard:
                store.Zero(offset, request.Length, deallocate: true);
                break;
            case RequestOp.WriteZeroes:
                store.Zero(offset, request.Length, deallocate: (request.Flags & RequestFlags.NoUnmap) == 0);
                break;
            default:
                break;
        }

        return BlockStatus.Ok;
    }
}
