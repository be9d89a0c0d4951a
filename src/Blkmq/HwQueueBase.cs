using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Blkmq;

/// <summary>
/// The part of a disk's hardware queue (hctx) that does not depend on the driver's types: its completion
/// context (the analogue of softirq: requests handed to <c>Complete</c> are finished on the thread pool, in
/// batches, never on the completing thread) and the restart machinery for requests the driver refused.
/// </summary>
/// <remarks>
/// The completion context is a lock-free intrusive stack of slots (a slot is on it at most once, while in the
/// <c>Completing</c> state, which nobody but the context may leave) drained by one work item at a time; the
/// work item is queued only on the empty-to-non-empty edge, so a burst of completions costs one thread hop.
/// </remarks>
internal abstract class HwQueueBase : IThreadPoolWorkItem
{
    private static readonly TimeSpan s_busyDelay = TimeSpan.FromMilliseconds(3);

    // The queue whose QueueRq this thread is inside, and the requests completed during that call (FIFO through
    // _nextCompletion). As blk_mq_complete_request on the submitting CPU, a completion raised inside QueueRq is
    // finished on the same thread as soon as QueueRq returns, instead of crossing to another thread and back.
    [ThreadStatic]
    private static HwQueueBase? t_dispatching;

    [ThreadStatic]
    private static RequestSlot? t_localHead;

    [ThreadStatic]
    private static RequestSlot? t_localTail;

    // Depth of block-layer contexts on this thread (completion work item, timeout scan, poll, deferred publish):
    // an end there may run the submitter's continuation inline; an end on any other thread hands it to the pool.
    [ThreadStatic]
    private static int t_blockLayerContext;

    private RequestSlot? _completionHead;
    private int _workScheduled;
    private int _dispatchOwner;
    private readonly DispatchWork? _dispatchWork;
    private int _needRun;
    private int _needRestart;
    private ITimer? _delayTimer;

    /// <summary>
    /// Driver callbacks (<c>Complete</c>, <c>Timeout</c>, <c>CommitRqs</c>) running on this queue now. Per queue, so
    /// that completions on two queues never share the cache line; removal waits until every queue's count is zero.
    /// </summary>
    private int _callbacks;

    protected HwQueueBase(Disk disk, TagBitmap tags, int index, bool isPoll)
    {
        Disk = disk;
        Tags = tags;
        Index = index;
        IsPoll = isPoll;
        IsBlocking = disk.TagSetCore.Options.Blocking;
        _dispatchWork = IsBlocking ? new DispatchWork(this) : null;
    }

    /// <summary>Gets whether the driver's <c>QueueRq</c> may sleep (<see cref="TagSetOptions.Blocking"/>).</summary>
    public bool IsBlocking { get; }

    public Disk Disk { get; }

    public TagBitmap Tags { get; }

    public int Index { get; }

    public bool IsPoll { get; }

    /// <summary>Requests waiting for dispatch (refused as busy, or held while quiesced); read on the fast path.</summary>
    internal int _dispatchListCount;

    /// <summary>Counts a driver callback that removal must wait out; see <see cref="TryEnterCallback"/>.</summary>
    internal void EnterCallback() => Interlocked.Increment(ref _callbacks);

    /// <summary>Counts a driver callback that removal must wait out, unless removal has closed callbacks (see <see cref="Disk.TryEnterCallback"/>).</summary>
    internal bool TryEnterCallback() => Disk.TryEnterCallback(ref _callbacks);

    internal void ExitCallback() => Interlocked.Decrement(ref _callbacks);

    /// <summary>Gets whether a driver callback is running on this queue now.</summary>
    internal bool InCallback => Volatile.Read(ref _callbacks) != 0;

    /// <summary>Gets whether this thread runs a block-layer context (dispatch, completion, timeout scan, poll).</summary>
    public static bool IsBlockLayerContext => t_blockLayerContext != 0 || t_dispatching is not null;

    /// <summary>Gets whether this thread runs a completion context (completion work, timeout scan, poll, deferred publish).</summary>
    public static bool IsCompletionContext => t_blockLayerContext != 0;

    /// <summary>Gets whether this thread is inside some queue's <c>QueueRq</c>.</summary>
    public static bool IsDispatching => t_dispatching is not null;

    public static void EnterBlockLayerContext() => t_blockLayerContext++;

    public static void ExitBlockLayerContext() => t_blockLayerContext--;

    /// <summary>
    /// Publishes a request the driver ended during some queue's <c>QueueRq</c> (not the one being dispatched) once
    /// the outermost <c>QueueRq</c> on this thread has returned, so no submitter code runs inside the driver.
    /// </summary>
    public static void PublishAfterDispatch(RequestSlot slot)
    {
        Debug.Assert(t_dispatching is not null, "not inside QueueRq");
        AppendLocal(slot);
    }

    public void EnqueueCompletion(RequestSlot slot)
    {
        if (t_dispatching == this)
        {
            AppendLocal(slot);
            return;
        }

        RequestSlot? head;
        do
        {
            head = Volatile.Read(ref _completionHead);
            slot._nextCompletion = head;
        }
        while (Interlocked.CompareExchange(ref _completionHead, slot, head) != head);

        if (head is null)
        {
            ScheduleWork();
        }
    }

    /// <summary>Called after a slot of this queue was freed: restarts a queue waiting for a completion, wakes a drain.</summary>
    public void OnRequestFreed()
    {
        if (Volatile.Read(ref _needRestart) != 0 && Interlocked.Exchange(ref _needRestart, 0) != 0)
        {
            RequestRun();
        }

        Disk.OnRequestFreed();
    }

    /// <summary>
    /// Runs the dispatch list soon, on the thread pool: in the completion work item, or for a blocking driver in a
    /// work item of its own, so a <c>QueueRq</c> that sleeps never holds up this queue's completions.
    /// </summary>
    public void RequestRun()
    {
        if (_dispatchWork is not null)
        {
            _dispatchWork.Schedule();
            return;
        }

        Volatile.Write(ref _needRun, 1);
        ScheduleWork();
    }

    /// <summary>
    /// Takes the queue's dispatch lock (rule 9: one <c>QueueRq</c> at a time per queue). Returns false, taking
    /// nothing, when this thread already holds it (a driver that submits to its own queue from <c>QueueRq</c>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    protected bool EnterDispatchLock()
    {
        int me = Environment.CurrentManagedThreadId;
        int owner = Interlocked.CompareExchange(ref _dispatchOwner, me, 0);
        if (owner == 0)
        {
            return true;
        }

        if (owner == me)
        {
            return false;
        }

        EnterDispatchLockContended(me);
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    protected void ExitDispatchLock() => Volatile.Write(ref _dispatchOwner, 0);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void EnterDispatchLockContended(int me)
    {
        // Another submitter is inside QueueRq, usually for a few hundred nanoseconds; a blocking driver's may sleep,
        // and SpinWait backs off to yielding and then to sleeping so waiting costs no core meanwhile.
        SpinWait spin = default;
        while (Volatile.Read(ref _dispatchOwner) != 0 || Interlocked.CompareExchange(ref _dispatchOwner, me, 0) != 0)
        {
            spin.SpinOnce();
        }
    }

    /// <summary>After a busy return: run again when a request of this queue frees, and after a short delay regardless.</summary>
    public void ArmRestart()
    {
        Volatile.Write(ref _needRestart, 1);
        ITimer? timer = Volatile.Read(ref _delayTimer);
        if (timer is null)
        {
            ITimer created = Disk.TagSetCore.Time.CreateTimer(static state => ((HwQueueBase)state!).RequestRun(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            timer = Interlocked.CompareExchange(ref _delayTimer, created, null) ?? created;
            if (!ReferenceEquals(timer, created))
            {
                created.Dispose();
            }
        }

        timer.Change(s_busyDelay, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Marks this thread as inside this queue's <c>QueueRq</c>; returns the previous mark for <see cref="EndDispatch"/>.</summary>
    protected HwQueueBase? BeginDispatch()
    {
        HwQueueBase? outer = t_dispatching;
        t_dispatching = this;
        return outer;
    }

    /// <summary>Restores the mark and finishes, on this thread, what the driver completed during the call.</summary>
    protected static void EndDispatch(HwQueueBase? outer)
    {
        t_dispatching = outer;
        if (t_localHead is not null && outer is null)
        {
            RunLocalCompletions();
        }
    }

    public abstract int Poll();

    /// <summary>
    /// Runs the driver's <c>Timeout</c> callback for a slot the caller moved to <c>TimingOut</c>, then settles it;
    /// <paramref name="status"/> is what a request the driver gives up on ends with.
    /// </summary>
    /// <returns>Whether the block layer ended the request with <paramref name="status"/>.</returns>
    public abstract bool HandleTimeout(RequestSlot slot, long generation, BlockStatus status);

    /// <summary>
    /// Fails every request on the dispatch list with <paramref name="status"/> (disk removal); with
    /// <paramref name="origin"/>, only those submitted through that stacked disk (its removal).
    /// </summary>
    public abstract int FailDispatchList(BlockStatus status, StackedDisk? origin = null);

    public abstract void Exit();

    protected abstract void InvokeComplete(RequestSlot slot);

    protected abstract void RunDispatchList();

    protected void DisposeTimer() => _delayTimer?.Dispose();

    private void ScheduleWork()
    {
        if (Interlocked.CompareExchange(ref _workScheduled, 1, 0) == 0)
        {
            Disk.TagSetCore.QueueWork(this);
        }
    }

    void IThreadPoolWorkItem.Execute()
    {
        t_blockLayerContext++;
        try
        {
            RunWork();
        }
        finally
        {
            t_blockLayerContext--;
        }
    }

    private void RunWork()
    {
        while (true)
        {
            RunCompletions();
            if (Volatile.Read(ref _needRun) != 0 && Interlocked.Exchange(ref _needRun, 0) != 0)
            {
                RunDispatchList();
            }

            // A full fence, not a release store: the reads below must not pass it, or a completion pushed right
            // now would find the work item still scheduled while we find its list still empty.
            Interlocked.Exchange(ref _workScheduled, 0);
            if ((Volatile.Read(ref _completionHead) is null && Volatile.Read(ref _needRun) == 0)
                || Interlocked.CompareExchange(ref _workScheduled, 1, 0) != 0)
            {
                return;
            }
        }
    }

    private static void AppendLocal(RequestSlot slot)
    {
        slot._nextCompletion = null;
        if (t_localTail is null)
        {
            t_localHead = slot;
        }
        else
        {
            t_localTail._nextCompletion = slot;
        }

        t_localTail = slot;
    }

    private static void RunLocalCompletions()
    {
        // Completions finished here may submit (a continuation, a target): take the list first.
        RequestSlot? slot = t_localHead;
        t_localHead = null;
        t_localTail = null;
        t_blockLayerContext++;
        try
        {
            while (slot is not null)
            {
                RequestSlot? next = slot._nextCompletion;
                slot._nextCompletion = null;
                if (RequestState.State(slot.StateWord) == RequestState.Completing)
                {
                    slot.Hctx.InvokeCompleteLocal(slot);
                }
                else
                {
                    slot.PublishEnded();
                }

                slot = next;
            }
        }
        finally
        {
            t_blockLayerContext--;
        }
    }

    private void InvokeCompleteLocal(RequestSlot slot) => InvokeComplete(slot);

    /// <summary>A blocking driver's dispatch runs: one work item at a time, apart from the completion work item.</summary>
    private sealed class DispatchWork(HwQueueBase queue) : IThreadPoolWorkItem
    {
        private int _scheduled;
        private int _needRun;

        public void Schedule()
        {
            Volatile.Write(ref _needRun, 1);
            if (Interlocked.CompareExchange(ref _scheduled, 1, 0) == 0)
            {
                queue.Disk.TagSetCore.QueueWork(this);
            }
        }

        public void Execute()
        {
            while (true)
            {
                if (Interlocked.Exchange(ref _needRun, 0) != 0)
                {
                    queue.RunDispatchList();
                }

                // Full fence, as in the completion work item: a Schedule now either sees us scheduled or we see it.
                Interlocked.Exchange(ref _scheduled, 0);
                if (Volatile.Read(ref _needRun) == 0 || Interlocked.CompareExchange(ref _scheduled, 1, 0) != 0)
                {
                    return;
                }
            }
        }
    }

    private void RunCompletions()
    {
        RequestSlot? list = Interlocked.Exchange(ref _completionHead, null);
        if (list is null)
        {
            return;
        }

        // The stack is newest first; reverse it so requests finish in the order they were completed.
        RequestSlot? ordered = null;
        while (list is not null)
        {
            RequestSlot next = list._nextCompletion!;
            list._nextCompletion = ordered;
            ordered = list;
            list = next;
        }

        while (ordered is not null)
        {
            RequestSlot slot = ordered;
            ordered = slot._nextCompletion;

            // Unlink before the callback: once ended, the slot may be reused and pushed again at once.
            slot._nextCompletion = null;
            Debug.Assert(RequestState.State(slot.StateWord) == RequestState.Completing, "slot on the completion list is not completing");
            InvokeComplete(slot);
        }
    }
}
