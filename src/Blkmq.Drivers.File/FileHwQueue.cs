namespace Blkmq.Drivers.File;

/// <summary>
/// One hardware queue of a file disk: the engine's per-queue half (a worker pool, or a ring and the thread that owns
/// it). <see cref="FileDriver.QueueRq"/> hands it requests; it ends each from its own threads.
/// </summary>
public abstract class FileHwQueue : IDisposable
{
    /// <summary>
    /// Gets the requests of this queue served and ended inside <c>QueueRq</c> (<see cref="FileIo.TryTransferInline"/>)
    /// instead of by the engine. Only <c>QueueRq</c> writes it, and it never runs twice at once on one queue (rule 9).
    /// </summary>
    internal long InlineTransfers { get; private set; }

    /// <summary>Counts a request served inside <c>QueueRq</c>.</summary>
    internal void NoteInlineTransfer() => InlineTransfers++;

    /// <summary>Takes a request; the queue owns it until it ends it.</summary>
    /// <param name="request">The request.</param>
    /// <param name="isLast">Whether this is the last of a batch: start the device now.</param>
    internal abstract void Queue(Request<FileRequest> request, bool isLast);

    /// <summary>Starts the device on what was queued without a last request (<c>commit_rqs</c>).</summary>
    internal abstract void Commit();

    /// <summary>
    /// A request timed out while the queue has it: the engine aborts it if it can and answers
    /// <see cref="TimeoutAction.WillEnd"/>, since its thread or the kernel still holds the buffers (rule 8).
    /// </summary>
    /// <param name="request">The request.</param>
    /// <returns>What the block layer is to do.</returns>
    internal abstract TimeoutAction Timeout(Request<FileRequest> request);

    /// <summary>Stops the queue's threads; called by <c>ExitHctx</c> once no request of the queue is left.</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Stops the queue's threads and frees its memory.</summary>
    /// <param name="disposing">Whether called from <see cref="Dispose()"/>.</param>
    protected abstract void Dispose(bool disposing);
}
