namespace Blkmq;

/// <summary>
/// The driver operations contract: the C# counterpart of Linux <c>struct blk_mq_ops</c> and of the Rust RFC's
/// <c>kernel::block::mq::Operations</c> trait.
/// </summary>
/// <typeparam name="TRequestData">Typed per-request data, created once per tag slot by <see cref="InitRequest"/>.</typeparam>
/// <typeparam name="THwQueueData">Typed per-hardware-queue data, created once per disk and queue by <see cref="InitHctx"/>.</typeparam>
/// <typeparam name="TDiskData">Typed per-disk data, given when the disk is added to the tag set.</typeparam>
/// <remarks>
/// <para>
/// Implement it on a <see langword="struct"/>: the block layer holds the driver as a generic type argument, so
/// every call is devirtualized and may inline. Members with a default body are optional; the block layer finds
/// out once, by reflection on the interface map, which ones a driver implements, and never calls the others, so
/// leaving one out costs nothing on the hot path. The struct is copied into every hardware queue, so mutable
/// state shared between queues belongs in a reference held by the struct or in the disk data.
/// </para>
/// <para>
/// Ownership: a request handed to <see cref="QueueRq"/> belongs to the driver until it is ended through
/// <see cref="Request{TData}.End(BlockStatus)"/> (directly, from another thread, or from <see cref="Complete"/>
/// after <see cref="Request{TData}.Complete(BlockStatus)"/>). An exception thrown by any callback ends that
/// request with <see cref="BlockStatus.IoError"/> and the queue keeps running.
/// </para>
/// <para>
/// Threads: the driver may end or complete a request from any thread, and find it again from any thread by its
/// <see cref="Request{TData}.Token"/>. An end on a thread the block layer does not run (a device's reaper, a
/// library's callback thread) resumes the submitter on the thread pool unless the driver passes
/// <see cref="EndOptions.RunContinuationInline"/>. <see cref="QueueRq"/> and <see cref="CommitRqs"/> are serialized
/// per hardware queue unless <see cref="ConcurrentQueueRq"/>; with <see cref="TagSetOptions.Blocking"/> they may
/// sleep. The submitter's buffers stay the driver's until the request ends: a driver whose device may still touch
/// them when <see cref="Timeout"/> is called answers <see cref="TimeoutAction.WillEnd"/> (see
/// <c>docs/request-handles.md</c>, rules 8 to 10).
/// </para>
/// </remarks>
public interface IBlockDriver<TRequestData, THwQueueData, TDiskData>
{
    /// <summary>
    /// Queues one request to the device (<c>queue_rq</c>). Return <see cref="BlockStatus.Ok"/> when the driver
    /// took the request (it may already have ended it), <see cref="BlockStatus.Busy"/> or
    /// <see cref="BlockStatus.ResourceBusy"/> to have it requeued (the driver must not have ended it), or an
    /// error status to have the block layer end it with that status.
    /// </summary>
    /// <param name="hwQueue">
    /// This hardware queue's data. Calls for one hardware queue of one disk are serialized (rule 9) unless the
    /// driver declares <see cref="ConcurrentQueueRq"/>: then several submitters may be inside <c>QueueRq</c> for
    /// the same queue at once, and the data must be a class or a readonly struct.
    /// </param>
    /// <param name="disk">The disk the request is for.</param>
    /// <param name="request">The request, owned by the driver from now on.</param>
    /// <param name="isLast">Whether this is the last request of the batch: a driver that batches kicks the device now.</param>
    BlockStatus QueueRq(ref THwQueueData hwQueue, TDiskData disk, Request<TRequestData> request, bool isLast);

    /// <summary>
    /// Gets whether <see cref="QueueRq"/> and <see cref="CommitRqs"/> may run on several threads at once for the
    /// same hardware queue (as Linux drivers that lock their own submission queues allow). The default, false,
    /// serializes them per hardware queue of a disk: submitters, the requeue work and a dispatch after unquiesce
    /// take turns, so the <c>ref</c> hardware-queue data is never shared between two running calls. A driver that
    /// declares true must keep its hardware-queue data in a class or a readonly struct (the tag set refuses a
    /// mutable struct), and pays no lock on the hot path.
    /// </summary>
    static virtual bool ConcurrentQueueRq => false;

    /// <summary>
    /// Called when a batch ended without a request flagged <c>isLast</c> (for example because the driver returned
    /// busy): kick the device for what was queued so far (<c>commit_rqs</c>).
    /// </summary>
    /// <param name="hwQueue">This hardware queue's data.</param>
    /// <param name="disk">The disk the batch was for.</param>
    void CommitRqs(ref THwQueueData hwQueue, TDiskData disk)
    {
    }

    /// <summary>
    /// Finishes a request that the driver passed to <see cref="Request{TData}.Complete(BlockStatus)"/>; runs on the
    /// hardware queue's completion context (the analogue of softirq). The driver must end the request here.
    /// When a driver leaves it out, the block layer ends the request with the status given to <c>Complete</c>.
    /// </summary>
    /// <param name="disk">The disk the request is for.</param>
    /// <param name="request">The completed request, still owned by the driver until ended.</param>
    void Complete(TDiskData disk, Request<TRequestData> request)
    {
        request.End(request.CompletionStatus);
    }

    /// <summary>Creates the data of one hardware queue of a disk (<c>init_hctx</c>). An exception fails the disk's creation.</summary>
    /// <param name="disk">The disk being added.</param>
    /// <param name="hwQueueIndex">The hardware queue's index.</param>
    /// <returns>The queue's data, passed by reference to every later call for that queue.</returns>
    THwQueueData InitHctx(TDiskData disk, int hwQueueIndex);

    /// <summary>Releases the data of one hardware queue when its disk is removed (<c>exit_hctx</c>).</summary>
    /// <param name="hwQueue">The queue's data.</param>
    /// <param name="disk">The disk being removed.</param>
    void ExitHctx(ref THwQueueData hwQueue, TDiskData disk)
    {
    }

    /// <summary>Creates the typed data of one tag slot, once per slot for the tag set's lifetime (<c>init_request</c>).</summary>
    /// <param name="hwQueueIndex">The hardware queue index the slot belongs to.</param>
    /// <param name="tag">The slot's tag.</param>
    /// <returns>The slot's data, reached through <see cref="Request{TData}.Data"/>.</returns>
    TRequestData InitRequest(int hwQueueIndex, int tag);

    /// <summary>Releases the typed data of one tag slot when the tag set is disposed (<c>exit_request</c>).</summary>
    /// <param name="data">The slot's data.</param>
    void ExitRequest(ref TRequestData data)
    {
    }

    /// <summary>Completes what the device finished on a poll queue (<c>poll</c>).</summary>
    /// <param name="hwQueue">The poll queue's data.</param>
    /// <param name="disk">The disk polled.</param>
    /// <returns>How many requests were ended.</returns>
    int Poll(ref THwQueueData hwQueue, TDiskData disk) => 0;

    /// <summary>
    /// Called when a request has been in flight for longer than the tag set's timeout (<c>timeout</c>), and for
    /// each request the driver still holds when a disk's removal has waited its grace period. The driver still
    /// owns the request during the call and may end or complete it (from any thread); the block layer acts on
    /// that end only when the call returns, so the slot stays this IO's meanwhile.
    /// </summary>
    /// <param name="disk">The disk the request is for.</param>
    /// <param name="request">The request that timed out.</param>
    /// <returns>
    /// <see cref="TimeoutAction.Done"/>: end it now (with <see cref="BlockStatus.Timeout"/>, or
    /// <see cref="BlockStatus.Offline"/> on removal) unless the driver ended it, the driver's word that nothing
    /// touches its buffers any more; <see cref="TimeoutAction.ResetTimer"/>: another period;
    /// <see cref="TimeoutAction.WillEnd"/>: the device still has the buffers and the driver ends the request later.
    /// </returns>
    TimeoutAction Timeout(TDiskData disk, Request<TRequestData> request) => TimeoutAction.Done;

    /// <summary>Fills the map from processor to hardware queue (<c>map_queues</c>); the default spreads processors round robin.</summary>
    /// <param name="map">The map to fill.</param>
    void MapQueues(QueueMap map)
    {
        map.MapRoundRobin();
    }
}
