using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;

namespace Blkmq;

/// <summary>
/// One preallocated request per tag (the analogue of blk-mq's static requests): its IO fields, its typed data,
/// and the completion source its submitter awaits. A slot lives as long as its tag set and serves one IO after
/// another; the generation in its state word tells the IOs apart.
/// </summary>
/// <remarks>
/// <para>Life of one IO: <c>Free → Prepared → Dispatching → (InFlight | Completing → CompleteCallback |
/// TimingOut)* → EndedInline | Ended → Free</c> with the generation raised on the way back to <c>Free</c>.
/// Every transition that can race (end against end, end against timeout, the dispatcher collecting an inline
/// end) is a compare-and-swap on <see cref="_state"/> that names the expected generation, so exactly one party
/// wins and a party holding an older generation can never act on a newer IO.</para>
/// <para>Fields other than the state word are written only by the party that owns the slot exclusively (the
/// allocator while Prepared, the winner of the end CAS), and published by the CAS or atomic that follows.</para>
/// </remarks>
internal abstract class RequestSlot : IValueTaskSource, IValueTaskSource<BlockStatus>, IThreadPoolWorkItem
{
    internal long _state;
    internal RequestOp _op;
    internal RequestFlags _flags;

    // A whole-block write that holds no recorded range: its request is its shared hold (see RangeLock), so it must
    // pass the disk's write gate when it is first dispatched.
    internal bool _unrecordedWrite;
    internal long _sector;
    internal int _bytes;
    internal int _segmentCount;
    internal int _mergeCount;
    internal long _startTimestamp;

    // The precise start stamp of the latency histogram, or 0 when it had no listener at the IO's start.
    internal long _durationStart;
    internal long _deadline;
    internal HwQueueBase? _hctx;
    internal IRequestCompletion? _target;
    internal long _cookie;
    internal RequestSlot? _nextCompletion;

    // The stacked (bio-based) disk the IO was submitted to, when it came through one: its gates are checked with this
    // disk's, its statistics and end observers are fed from this request's end. Set while Prepared, cleared (release)
    // once the stack has accounted the end: until then the IO is in flight for the stacked disks (StackedDisk.OwnsSlot).
    internal StackedDisk? _origin;

    // The precise start stamp of a stack's latency sample, or 0; and this slot's IO count that picks the samples.
    internal long _stackStart;
    internal int _stackIos;
    internal readonly Memory<byte>[] _segments;
    private ManualResetValueTaskSourceCore<BlockStatus> _awaiter;

    protected RequestSlot(TagBitmap tags, int hwQueueIndex, int tag, int index, int maxSegments)
    {
        Tags = tags;
        HwQueueIndex = hwQueueIndex;
        Tag = tag;
        Index = index;
        _segments = new Memory<byte>[maxSegments];
        _state = RequestState.Word(1, RequestState.Free);
    }

    /// <summary>Gets the tag bitmap the slot's tag comes from.</summary>
    public TagBitmap Tags { get; }

    /// <summary>Gets the hardware queue index the slot belongs to.</summary>
    public int HwQueueIndex { get; }

    /// <summary>Gets the slot's tag.</summary>
    public int Tag { get; }

    /// <summary>Gets the slot's index in its tag set, used for per-slot statistics shards.</summary>
    public int Index { get; }

    public long StateWord => Volatile.Read(ref _state);

    public short AwaiterVersion => _awaiter.Version;

    public long Bytes => _bytes;

    /// <summary>Gets the hardware queue of the current IO (valid while the slot is not free).</summary>
    public HwQueueBase Hctx => _hctx!;

    /// <summary>
    /// Fills the slot for a new IO. The caller has just allocated the slot's tag and owns it exclusively. The
    /// write is a plain release: the compare-and-swap into <c>Dispatching</c> that follows is the full fence
    /// the freeze and quiesce handshakes rely on.
    /// </summary>
    /// <returns>The IO's generation, which every handle to it carries.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public long Prepare(HwQueueBase hctx, RequestOp op, RequestFlags flags, long sector, int bytes, IRequestCompletion? target, long cookie, bool unrecordedWrite = false, StackedDisk? origin = null)
    {
        long word = _state;
        Debug.Assert(RequestState.State(word) == RequestState.Free, "preparing a slot that is not free");
        long generation = RequestState.Generation(word);
        _hctx = hctx;
        _op = op;
        _flags = flags;
        _unrecordedWrite = unrecordedWrite;
        _sector = sector;
        _bytes = bytes;
        _segmentCount = 0;
        _mergeCount = 0;
        _target = target;
        _cookie = cookie;
        _origin = origin;
        if (target is null)
        {
            _awaiter.Reset();
        }

        Volatile.Write(ref _state, RequestState.Word(generation, RequestState.Prepared));
        return generation;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void AddSegment(Memory<byte> segment)
    {
        _segments[_segmentCount++] = segment;
    }

    /// <summary>Moves a prepared slot into <c>Dispatching</c>; returns false when it is not in <c>Prepared</c> of that generation.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryBeginDispatch(long generation, long deadline)
    {
        _deadline = deadline;
        long prepared = RequestState.Word(generation, RequestState.Prepared);
        return Interlocked.CompareExchange(ref _state, RequestState.Word(generation, RequestState.Dispatching), prepared) == prepared;
    }

    /// <summary>
    /// After <c>QueueRq</c> returned <see cref="BlockStatus.Ok"/>: hands the request to the driver for good.
    /// Returns <see cref="RequestState.InFlight"/> on success, otherwise the state the driver moved it to.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int FinishDispatch(long generation)
    {
        // Ended inline is final until the dispatcher acts, so a plain read spares the failing CAS that an
        // inline-completing driver would otherwise pay on every IO.
        long word = Volatile.Read(ref _state);
        if (word == RequestState.Word(generation, RequestState.EndedInline, RequestState.Status(word)))
        {
            return RequestState.EndedInline;
        }

        long dispatching = RequestState.Word(generation, RequestState.Dispatching);
        long seen = Interlocked.CompareExchange(ref _state, RequestState.Word(generation, RequestState.InFlight), dispatching);
        if (seen == dispatching || RequestState.Generation(seen) != generation)
        {
            // Either ours now, or the IO was completed elsewhere during QueueRq and the slot already serves the
            // next IO: that one is not ours to collect, so report the request as taken.
            return RequestState.InFlight;
        }

        return RequestState.State(seen);
    }

    /// <summary>Takes a request back from <c>Dispatching</c> into <c>Prepared</c> (driver busy); false when the driver ended it anyway.</summary>
    public bool TryUndoDispatch(long generation)
    {
        long dispatching = RequestState.Word(generation, RequestState.Dispatching);
        return Interlocked.CompareExchange(ref _state, RequestState.Word(generation, RequestState.Prepared), dispatching) == dispatching;
    }

    /// <summary>Whether the handle of <paramref name="generation"/> may use the slot now.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool IsOwnedBy(long generation)
    {
        long word = Volatile.Read(ref _state);
        return RequestState.Generation(word) == generation && RequestState.IsDriverOwned(RequestState.State(word));
    }

    /// <summary>
    /// Ends the IO of <paramref name="generation"/> with <paramref name="status"/> if the driver owns it. Exactly
    /// one call per IO succeeds; every other call, from any copy of the handle or any thread, returns false
    /// without touching the slot. An end during <c>QueueRq</c> or <c>Timeout</c> is left for the party running
    /// that callback to account and publish (it may free the slot the moment it sees the end, so the ender must not
    /// touch the slot after its CAS). <paramref name="inline"/> lets a foreign thread run the submitter's
    /// continuation itself (see <see cref="Finish"/>).
    /// </summary>
    public bool TryEnd(long generation, BlockStatus status, bool inline = false)
    {
        while (true)
        {
            long word = Volatile.Read(ref _state);
            if (RequestState.Generation(word) != generation)
            {
                return false;
            }

            int state = RequestState.State(word);
            int next;
            if (state is RequestState.Dispatching or RequestState.TimingOut)
            {
                // Inside QueueRq or Timeout: the party running that callback publishes the end when it returns,
                // so the slot cannot be freed and reused while that party still reads it.
                next = RequestState.EndedInline;
            }
            else if (state is RequestState.InFlight or RequestState.CompleteCallback)
            {
                next = RequestState.Ended;
            }
            else
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _state, RequestState.Word(generation, next, status), word) == word)
            {
                if (next == RequestState.Ended)
                {
                    Finish(status, inline);
                }

                return true;
            }
        }
    }

    /// <summary>Hands the IO to its hardware queue's completion context (<c>blk_mq_complete_request</c>).</summary>
    public bool TryComplete(long generation, BlockStatus status)
    {
        while (true)
        {
            long word = Volatile.Read(ref _state);
            if (RequestState.Generation(word) != generation)
            {
                return false;
            }

            int state = RequestState.State(word);
            if (state is not (RequestState.Dispatching or RequestState.InFlight or RequestState.TimingOut))
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _state, RequestState.Word(generation, RequestState.Completing, status), word) == word)
            {
                // During Timeout the timeout handler queues it when the callback returns (the slot is still read
                // there); otherwise the completing party queues it now.
                if (state != RequestState.TimingOut)
                {
                    _hctx!.EnqueueCompletion(this);
                }

                return true;
            }
        }
    }

    /// <summary>Moves a <c>Completing</c> request into the driver's <c>Complete</c> callback.</summary>
    public bool TryBeginCompleteCallback(out long generation)
    {
        long word = Volatile.Read(ref _state);
        generation = RequestState.Generation(word);
        // The status given to Complete stays in the word: the callback reads it as CompletionStatus.
        return RequestState.State(word) == RequestState.Completing
            && Interlocked.CompareExchange(ref _state, RequestState.Word(generation, RequestState.CompleteCallback, RequestState.Status(word)), word) == word;
    }

    /// <summary>
    /// Starts the timeout of an in-flight request whose deadline passed (or, with <paramref name="removing"/>, of
    /// any in-flight request of that disk: its removal's grace period is over); returns its generation. From <c>TimingOut</c> until the
    /// timeout handler settles it (<see cref="TrySettleTimeout"/>), an end or completion by the driver is recorded
    /// but not acted on, so the slot stays this IO's while the handler reads it.
    /// </summary>
    public bool TryBeginTimeout(long now, Disk? removing, out long generation)
    {
        long word = Volatile.Read(ref _state);
        generation = RequestState.Generation(word);
        if (RequestState.State(word) != RequestState.InFlight)
        {
            return false;
        }

        // Read after the state word: if the CAS below succeeds the generation did not change, so these are the
        // fields of the IO the word names (they are written before its Prepared state is published).
        if (removing is not null ? Volatile.Read(ref _hctx)?.Disk != removing : now - Volatile.Read(ref _deadline) < 0)
        {
            return false;
        }

        return Interlocked.CompareExchange(ref _state, RequestState.Word(generation, RequestState.TimingOut), word) == word;
    }

    /// <summary>
    /// The timeout handler's last step, after the driver's <c>Timeout</c> callback: accounts an end the driver
    /// made meanwhile (its publication goes to a work item, as that of the handler's own end does), queues a completion it made, or else applies <paramref name="action"/>: rearms the timer
    /// with <paramref name="deadline"/> (<see cref="TimeoutAction.ResetTimer"/>, and <see cref="TimeoutAction.WillEnd"/>
    /// with no deadline) or ends the request with <paramref name="status"/> (<see cref="TimeoutAction.Done"/>).
    /// </summary>
    /// <returns>Whether the block layer ended the request with <paramref name="status"/>.</returns>
    public bool TrySettleTimeout(long generation, TimeoutAction action, long deadline, BlockStatus status)
    {
        while (true)
        {
            long word = Volatile.Read(ref _state);
            Debug.Assert(RequestState.Generation(word) == generation, "the slot changed generation during its timeout");
            switch (RequestState.State(word))
            {
                case RequestState.EndedInline:
                    Volatile.Write(ref _state, RequestState.Word(generation, RequestState.Ended, RequestState.Status(word)));
                    FinishDeferred(RequestState.Status(word));
                    return false;
                case RequestState.Completing:
                    _hctx!.EnqueueCompletion(this);
                    return false;
                case RequestState.TimingOut:
                    break;
                default:
                    Debug.Fail("unexpected state after Timeout");
                    return false;
            }

            if (action == TimeoutAction.Done)
            {
                long ended = RequestState.Word(generation, RequestState.Ended, status);
                if (Interlocked.CompareExchange(ref _state, ended, word) == word)
                {
                    FinishDeferred(status);
                    return true;
                }
            }
            else
            {
                // The deadline is written while the slot is still TimingOut, which nobody but this handler leaves
                // for a new IO: it cannot land on the next IO in the slot (a write after the CAS could).
                Volatile.Write(ref _deadline, action == TimeoutAction.WillEnd ? long.MaxValue : deadline);
                if (Interlocked.CompareExchange(ref _state, RequestState.Word(generation, RequestState.InFlight), word) == word)
                {
                    return false;
                }
            }

            // The driver ended or completed the request meanwhile: settle that instead.
        }
    }

    /// <summary>
    /// The dispatcher's side of an inline end: the driver ended the request inside <c>QueueRq</c> and the
    /// dispatcher, not being the submitter, publishes it.
    /// </summary>
    public void PublishInline()
    {
        long word = Volatile.Read(ref _state);
        Debug.Assert(RequestState.State(word) == RequestState.EndedInline, "not ended inline");

        // Nobody else acts on an inline end: a plain write makes it an ordinary end for the submitter to read.
        BlockStatus status = RequestState.Status(word);
        Volatile.Write(ref _state, RequestState.Word(RequestState.Generation(word), RequestState.Ended, status));
        Finish(status, inline: true);
    }

    /// <summary>The submitter's side of an inline end: accounts the IO and returns its status; the caller releases the slot.</summary>
    public BlockStatus CollectInline()
    {
        long word = Volatile.Read(ref _state);
        Debug.Assert(RequestState.State(word) == RequestState.EndedInline, "not ended inline");
        BlockStatus status = RequestState.Status(word);
        Account(status);
        return status;
    }

    /// <summary>Ends a request the block layer owns (never dispatched, or refused by the driver) with <paramref name="status"/>.</summary>
    public void EndByBlockLayer(long generation, BlockStatus status, bool publish)
    {
        long word = Volatile.Read(ref _state);
        Debug.Assert(RequestState.Generation(word) == generation, "ending another generation");
        Debug.Assert(RequestState.State(word) is RequestState.Prepared or RequestState.Dispatching, "block layer does not own the request");
        Volatile.Write(ref _state, RequestState.Word(generation, publish ? RequestState.Ended : RequestState.EndedInline, status));
        if (publish)
        {
            Finish(status, inline: true);
        }
    }

    /// <summary>The status the request was handed to completion with (valid in the Complete callback).</summary>
    public BlockStatus CompletionStatus => RequestState.Status(Volatile.Read(ref _state));

    /// <summary>
    /// Frees the slot: raises the generation, drops buffer references and returns the tag. After this the slot
    /// may hold another IO at once; the caller must not touch it again.
    /// </summary>
    public void Release()
    {
        HwQueueBase hctx = _hctx!;
        for (int i = 0; i < _segmentCount; i++)
        {
            _segments[i] = default;
        }

        _segmentCount = 0;
        _hctx = null;
        _target = null;
        _origin = null;
        long generation = RequestState.Generation(_state);
        Volatile.Write(ref _state, RequestState.Word(generation + 1, RequestState.Free));
        Tags.Free(Tag);
        hctx.OnRequestFreed();
    }

    private void Account(BlockStatus status)
    {
        HwQueueBase hctx = _hctx!;
        long now = hctx.Disk.TagSetCore.Clock.Now();
        hctx.Disk.Statistics.Account(this, status, now);

        // The stacked disks above see the same end, with the same timestamp: one null check when there are none.
        if (_origin is { } origin)
        {
            origin.OnLowerEnded(this, status, now);
        }
    }

    /// <summary>
    /// Accounts the ended IO and tells its submitter. On a thread the block layer runs (dispatch, completion
    /// context, poll; not the timeout scan, see <see cref="FinishDeferred"/>) or when the ender asked for it, the submitter's continuation or target runs
    /// here; on any other thread (an io_uring reaper, a librbd callback, a driver's own timer) it is handed to the
    /// thread pool, so a foreign thread never runs submitter code it did not ask for (rule 10).
    /// </summary>
    private void Finish(BlockStatus status, bool inline)
    {
        Account(status);
        if (HwQueueBase.IsDispatching)
        {
            HwQueueBase.PublishAfterDispatch(this);
        }
        else if (inline || HwQueueBase.IsBlockLayerContext)
        {
            Publish(status);
        }
        else
        {
            // The slot is its own work item: it is ended and cannot be freed before Publish runs, so no IO of a
            // later generation can queue it again meanwhile.
            _hctx!.Disk.TagSetCore.QueueWork(this);
        }
    }

    /// <summary>
    /// Accounts the ended IO and hands its publication to a work item: the timeout scan's end. The scan runs on the
    /// tag set's timer under its scan lock; a submitter's continuation run there would hold up every other timeout
    /// behind it, and one that disposes the tag set would wait for the timer callback it is running in.
    /// </summary>
    private void FinishDeferred(BlockStatus status)
    {
        Account(status);
        _hctx!.Disk.TagSetCore.QueueWork(this);
    }

    void IThreadPoolWorkItem.Execute()
    {
        HwQueueBase.EnterBlockLayerContext();
        try
        {
            PublishEnded();
        }
        finally
        {
            HwQueueBase.ExitBlockLayerContext();
        }
    }

    /// <summary>Publishes the status of an ended request whose publication was deferred.</summary>
    public void PublishEnded()
    {
        long word = Volatile.Read(ref _state);
        Debug.Assert(RequestState.State(word) == RequestState.Ended, "deferred publish of a slot that is not ended");
        Publish(RequestState.Status(word));
    }

    private void Publish(BlockStatus status)
    {
        IRequestCompletion? target = _target;
        if (target is null)
        {
            // The submitter frees the slot in GetResult, after it has read the status.
            _awaiter.SetResult(status);
        }
        else
        {
            // Free the tag first: the target may complete its submitter inline, who may then expect the disk idle.
            long cookie = _cookie;
            Release();
            target.OnRequestCompleted(cookie, status);
        }
    }

    public BlockStatus GetResult(short token)
    {
        // Validates the token: a result read after the slot took a new IO fails here, touching nothing.
        BlockStatus status = _awaiter.GetResult(token);

        // One reader wins the Ended word; a second await of the same ValueTask (or a racing one) finds the slot
        // already released and throws instead of freeing the tag twice.
        long word = Volatile.Read(ref _state);
        if (RequestState.State(word) != RequestState.Ended
            || Interlocked.CompareExchange(ref _state, RequestState.Word(RequestState.Generation(word), RequestState.Releasing), word) != word)
        {
            ThrowHelper.ThrowResultAlreadyRead();
        }

        Release();
        return status;
    }

    void IValueTaskSource.GetResult(short token)
    {
        RequestOp op = _op;
        long offset = _sector << 9;
        long length = _bytes;
        BlockStatus status = GetResult(token);
        if (status != BlockStatus.Ok)
        {
            throw BlockIOException.Create(status, op, offset, length);
        }
    }

    public ValueTaskSourceStatus GetStatus(short token) => _awaiter.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _awaiter.OnCompleted(continuation, state, token, flags);
}
