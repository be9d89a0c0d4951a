using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Blkmq.Drivers.File;

/// <summary>
/// The file driver: a disk backed by a regular file or a block device. <c>QueueRq</c> hands each request to its
/// hardware queue's engine (<see cref="FileHwQueue"/>), which ends it from its own thread when the kernel is done;
/// a request that times out is aborted and answered <see cref="TimeoutAction.WillEnd"/>, because the kernel may still
/// be writing its buffers (rule 8). A read whose bytes are all in the page cache, and a buffered write to a file (FUA
/// only on tmpfs), is served and ended inside <c>QueueRq</c> (<see cref="FileIo.TryTransferInline"/>), as a
/// synchronous server would.
/// </summary>
[StructLayout(LayoutKind.Auto)]
public readonly struct FileDriver : IBlockDriver<FileRequest, FileHwQueue, FileDisk>
{
    private readonly int _depth;
    private readonly int _maxSegments;

    /// <summary>Initializes a new instance of the <see cref="FileDriver"/> struct.</summary>
    /// <param name="depth">The tag set's depth per hardware queue.</param>
    /// <param name="maxSegments">The tag set's segments per request.</param>
    public FileDriver(int depth, int maxSegments)
    {
        _depth = depth;
        _maxSegments = maxSegments;
    }

    /// <inheritdoc/>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public BlockStatus QueueRq(ref FileHwQueue hwQueue, FileDisk disk, Request<FileRequest> request, bool isLast)
    {
        RequestOp op = request.Op;
        if (op == RequestOp.Read)
        {
            if (disk.TriesCachedReads && FileIo.TryTransferInline(disk, request, write: false))
            {
                hwQueue.NoteInlineTransfer();
                return BlockStatus.Ok;
            }
        }
        else if (op == RequestOp.Write)
        {
            if (disk.TriesInlineWrite(request.Flags) && FileIo.TryTransferInline(disk, request, write: true))
            {
                hwQueue.NoteInlineTransfer();
                return BlockStatus.Ok;
            }
        }
        else if (request.Op is RequestOp.Discard or RequestOp.WriteZeroes)
        {
            // Before the hole exists, so a block status racing with it may say "hole" (never "data" after it).
            disk.NoteHoles();
        }

        hwQueue.Queue(request, isLast);
        return BlockStatus.Ok;
    }

    /// <inheritdoc/>
    public void CommitRqs(ref FileHwQueue hwQueue, FileDisk disk) => hwQueue.Commit();

    /// <inheritdoc/>
    public FileHwQueue InitHctx(FileDisk disk, int hwQueueIndex)
    {
        FileHwQueue queue = disk.Engine switch
        {
            FileEngine.IoUring => new FileUringQueue(disk, hwQueueIndex, _depth, _maxSegments),
            _ => new FileThreadsQueue(disk, hwQueueIndex, _depth, _maxSegments),
        };

        // Timeout is not given the queue's data: the disk keeps the queues by index for it.
        disk.HwQueues[hwQueueIndex] = queue;
        return queue;
    }

    /// <inheritdoc/>
    public void ExitHctx(ref FileHwQueue hwQueue, FileDisk disk) => hwQueue.Dispose();

    /// <inheritdoc/>
    public FileRequest InitRequest(int hwQueueIndex, int tag) => default;

    /// <inheritdoc/>
    public TimeoutAction Timeout(FileDisk disk, Request<FileRequest> request) =>
        disk.HwQueues[request.HwQueueIndex] is { } queue ? queue.Timeout(request) : TimeoutAction.WillEnd;
}
