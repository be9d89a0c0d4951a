using System.Runtime.CompilerServices;

namespace Blkmq;

/// <summary>
/// A disk (Linux <c>struct gendisk</c> with its request queue): name, capacity, block sizes, flags and limits,
/// statistics, and the queue controls (freeze, quiesce, removal). Made by
/// <see cref="TagSet{TDriver, TData, THw, TDisk}.AddDisk"/>; IO goes through <see cref="OpenDevice"/>.
/// </summary>
public abstract partial class Disk
{
    private readonly Lock _controlLock = new();
    private int _gateClosed;
    private int _freezeDepth;
    private int _quiesceDepth;
    private int _removed;
    private int _callbacks;
    private int _drainWaiters;
    private int _callbacksClosed;
    private TaskCompletionSource _gateOpen = NewSignal(completed: true);
    private TaskCompletionSource _drained = NewSignal(completed: false);
    private volatile bool _readOnly;
    private long _capacity;

    private protected Disk(TagSetCore tagSet, DiskOptions options)
    {
        TagSetCore = tagSet;
        Name = options.Name;
        _capacity = options.Capacity;
        Limits = options.Limits;
        _readOnly = options.ReadOnly;
        IsRotational = options.Rotational;
        HasWriteCache = options.WriteCache;
        SupportsFua = options.WriteCache && options.Fua;
        ReadsFillBuffers = options.ReadsFillBuffers;
        Statistics = new DiskStatistics(tagSet.AllSlots.Length, tagSet.Clock.Frequency, options.IoStatistics, tagSet.Time, options.Name, Metrics.BlkmqMeter.LatencySampling);
        StreamLock = new RangeLock(WaitForUnrecordedWritesAsync);
        LogicalBlockShift = System.Numerics.BitOperations.Log2((uint)Limits.LogicalBlockSize);
    }

    /// <summary>Gets the disk's name.</summary>
    public string Name { get; }

    /// <summary>Gets the capacity in bytes.</summary>
    public long Capacity => Volatile.Read(ref _capacity);

    /// <summary>Gets the capacity in 512-byte sectors.</summary>
    public long CapacitySectors => Capacity >> 9;

    /// <summary>Gets the queue limits.</summary>
    public QueueLimits Limits { get; }

    /// <summary>Gets whether the disk refuses writes, discards and write-zeroes.</summary>
    public bool IsReadOnly => _readOnly;

    /// <summary>Gets whether the disk is rotational.</summary>
    public bool IsRotational { get; }

    /// <summary>Gets whether the disk has a volatile write cache (flush is meaningful).</summary>
    public bool HasWriteCache { get; }

    /// <summary>Gets whether FUA writes reach the driver as such.</summary>
    public bool SupportsFua { get; }

    /// <summary>Gets whether a successful read writes every byte of its buffers (<see cref="DiskOptions.ReadsFillBuffers"/>).</summary>
    public bool ReadsFillBuffers { get; }

    /// <summary>Gets whether discard is supported.</summary>
    public bool SupportsDiscard => Limits.MaxDiscardSectors > 0;

    /// <summary>Gets whether the driver implements write-zeroes itself.</summary>
    public bool SupportsWriteZeroes => Limits.MaxWriteZeroesSectors > 0;

    /// <summary>Gets whether the disk was removed.</summary>
    public bool IsRemoved => Volatile.Read(ref _removed) != 0;

    /// <summary>Gets whether the queue is quiesced (no dispatch to the driver).</summary>
    public bool IsQuiesced => Volatile.Read(ref _quiesceDepth) != 0;

    /// <summary>Gets whether the queue is frozen (no new IO enters).</summary>
    public bool IsFrozen => Volatile.Read(ref _freezeDepth) != 0;

    /// <summary>Gets the tag set serving the disk.</summary>
    public TagSetCore TagSet => TagSetCore;

    /// <summary>Gets how many requests of this disk the block layer or the driver holds now (not counting ended ones whose submitter has yet to read the result).</summary>
    public int InFlight => CountActive(driverOwnedOnly: false);

    internal TagSetCore TagSetCore { get; }

    internal DiskStatistics Statistics { get; }

    internal int LogicalBlockShift { get; }

    /// <summary>The disk's one range lock (see <see cref="RangeLock"/>); its write gate is read at every first dispatch of an unrecorded write.</summary>
    internal RangeLock StreamLock { get; }

    internal abstract HwQueueBase[] Queues { get; }

    /// <summary>Marks the disk read-only or writable at runtime (Linux <c>set_disk_ro</c>).</summary>
    /// <param name="readOnly">Whether to refuse writes.</param>
    public void SetReadOnly(bool readOnly) => _readOnly = readOnly;

    /// <summary>Changes the capacity at runtime (Linux <c>set_capacity_and_notify</c>); IO beyond it fails from now on.</summary>
    /// <param name="capacity">The new capacity in bytes, a multiple of the logical block size.</param>
    public void SetCapacity(long capacity)
    {
        if (capacity < 0 || capacity % Limits.LogicalBlockSize != 0)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(capacity), capacity, $"The capacity must be a non-negative multiple of the logical block size ({Limits.LogicalBlockSize}).");
        }

        Volatile.Write(ref _capacity, capacity);
    }

    /// <summary>Gets what the driver knows about allocated ranges, or <see langword="null"/> when it cannot tell.</summary>
    public abstract IAllocationSource? Allocation { get; }

    /// <summary>Gets whether the disk is zoned (<see cref="QueueLimits.ZoneSectors"/> is not zero).</summary>
    public bool IsZoned => Limits.IsZoned;

    /// <summary>Gets the driver's zone report for a zoned disk; <see langword="null"/> when the disk is not zoned.</summary>
    public abstract IZonedDevice? Zones { get; }

    /// <summary>Takes a snapshot of the disk's statistics.</summary>
    /// <returns>The counters, as in <c>/sys/block/&lt;dev&gt;/stat</c>.</returns>
    public DiskStats GetStatistics() => Statistics.Snapshot(CountActive(driverOwnedOnly: false));

    /// <summary>Opens the in-process block device API on this disk.</summary>
    /// <returns>A device; cheap, any number may be open.</returns>
    public BlockDevice OpenDevice() => new(this);

    /// <summary>Polls every poll queue of the disk once (<c>blk_mq_poll</c>).</summary>
    /// <returns>How many requests completed.</returns>
    public int Poll()
    {
        // Counted as a callback, and checked after counting (Dekker with RemoveAsync), so the driver's Poll never
        // runs on a queue that removal has exited. Polling stays open while removal drains: polled requests
        // complete only through it.
        if (!TryEnterCallback(ref _callbacks))
        {
            return 0;
        }

        HwQueueBase.EnterBlockLayerContext();
        try
        {
            return PollQueues();
        }
        finally
        {
            HwQueueBase.ExitBlockLayerContext();
            ExitCallback();
        }
    }

    /// <summary>
    /// Freezes the queue (<c>blk_mq_freeze_queue</c>): new IO waits at the entrance until <see cref="Unfreeze"/>;
    /// completes when every request already admitted has ended. Freezes nest.
    /// </summary>
    /// <param name="cancellationToken">Stops waiting for the drain (the queue stays frozen).</param>
    /// <returns>A task that completes when the queue is empty.</returns>
    public async ValueTask FreezeAsync(CancellationToken cancellationToken = default)
    {
        lock (_controlLock)
        {
            if (_freezeDepth++ == 0)
            {
                _gateOpen = NewSignal(completed: false);
                Interlocked.Exchange(ref _gateClosed, 1);
            }
        }

        await WaitForDrainAsync(driverOwnedOnly: false, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Undoes one <see cref="FreezeAsync"/>; the last one lets waiting IO in.</summary>
    /// <exception cref="InvalidOperationException">The queue is not frozen.</exception>
    public void Unfreeze()
    {
        lock (_controlLock)
        {
            if (_freezeDepth == 0)
            {
                throw new InvalidOperationException($"Disk '{Name}' is not frozen.");
            }

            if (--_freezeDepth == 0 && _removed == 0)
            {
                Interlocked.Exchange(ref _gateClosed, 0);
                _gateOpen.TrySetResult();
            }
        }
    }

    /// <summary>
    /// Quiesces the queue (<c>blk_mq_quiesce_queue</c>): no request is dispatched to the driver until
    /// <see cref="Unquiesce"/> (new ones are held in order); completes when no <c>QueueRq</c> call is running.
    /// Requests the driver already owns still complete.
    /// </summary>
    /// <param name="cancellationToken">Stops waiting (the queue stays quiesced).</param>
    /// <returns>A task that completes when no dispatch is in progress.</returns>
    public async ValueTask QuiesceAsync(CancellationToken cancellationToken = default)
    {
        lock (_controlLock)
        {
            Interlocked.Increment(ref _quiesceDepth);
        }

        while (CountDispatching() != 0)
        {
            await Task.Delay(1, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Undoes one <see cref="QuiesceAsync"/>; the last one dispatches what was held.</summary>
    /// <exception cref="InvalidOperationException">The queue is not quiesced.</exception>
    public void Unquiesce()
    {
        lock (_controlLock)
        {
            if (_quiesceDepth == 0)
            {
                throw new InvalidOperationException($"Disk '{Name}' is not quiesced.");
            }

            if (Interlocked.Decrement(ref _quiesceDepth) != 0)
            {
                return;
            }
        }

        RunQueues();
    }

    /// <summary>
    /// Removes the disk (<c>del_gendisk</c>): new IO fails with <see cref="BlockStatus.Offline"/>, requests held
    /// by the block layer fail, requests the driver owns are waited for (they end, or time out) and after
    /// <paramref name="gracePeriod"/> are failed with <see cref="BlockStatus.Offline"/> (a late end by the driver
    /// is then a harmless no-op). When this completes, no driver callback for the disk runs any more and its
    /// queues were exited.
    /// </summary>
    /// <param name="gracePeriod">How long to wait for the driver; default the tag set's request timeout.</param>
    /// <returns>A task that completes when the disk is gone.</returns>
    public async ValueTask RemoveAsync(TimeSpan? gracePeriod = null)
    {
        lock (_controlLock)
        {
            if (_removed != 0)
            {
                return;
            }

            _removed = 1;
            Interlocked.Exchange(ref _gateClosed, 1);
            _gateOpen.TrySetResult();
        }

        // From here on a request the driver refuses as busy is failed, not requeued (HwQueue checks IsRemoved),
        // and every wake-up of the drain fails what still waits on a dispatch list, so a driver that answers busy
        // forever cannot hold removal up.
        FailDispatchLists();
        TimeSpan grace = gracePeriod ?? TagSetCore.Options.RequestTimeout;
        int failed = 0;
        using (var graceCts = new CancellationTokenSource(grace))
        {
            try
            {
                await WaitForDrainAsync(driverOwnedOnly: false, graceCts.Token, FailDispatchLists).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (graceCts.IsCancellationRequested)
            {
                // The driver's Timeout decides for each request it still holds (rule 8): Done ends it with Offline
                // now; WillEnd means its device still has the buffers, and removal waits for the driver's end.
                failed = TagSetCore.HandleTimeouts(this, BlockStatus.Offline);
            }
        }

        // A request inside QueueRq, Complete or Timeout cannot be taken from the driver; wait for those calls.
        await WaitForDrainAsync(driverOwnedOnly: false, CancellationToken.None, FailDispatchLists).ConfigureAwait(false);

        // Closing callbacks, then waiting for those already running (Dekker with TryEnterCallback): Poll and
        // CommitRqs never run once the queues are exited.
        Interlocked.Exchange(ref _callbacksClosed, 1);
        while (AnyCallbackRunning())
        {
            await Task.Delay(1).ConfigureAwait(false);
        }

        lock (TagSetCore.TimeoutScanLock)
        {
            // Taking the scan lock waits out a scan that may be calling this disk's Timeout right now.
        }

        ExitQueues();
        TagSetCore.Unregister(this);
        Metrics.DiskMetrics.Unregister(this);
        BlkmqLog.DiskRemoved(TagSetCore.Logger, Name, failed);
    }

    /// <summary>Submits one request.</summary>
    /// <param name="op">The operation.</param>
    /// <param name="flags">Its modifiers.</param>
    /// <param name="sector">The first 512-byte sector.</param>
    /// <param name="bytes">The length in bytes.</param>
    /// <param name="data">The one data segment, or empty.</param>
    /// <param name="target">Where the outcome goes; null to complete the returned submission instead.</param>
    /// <param name="cookie">Handed back to <paramref name="target"/>.</param>
    /// <param name="unrecordedWrite">
    /// A whole-block write that holds no recorded range (see <see cref="RangeLock"/>): it passes the write gate, or
    /// comes back as <see cref="Submission.IsWriteGated"/> without reaching the driver, and so it does when it would
    /// have to wait for a tag or an open gate.
    /// </param>
    /// <param name="origin">The stacked disk the IO was submitted to, when a stacked disk hands it down (see <see cref="StackedDisk"/>).</param>
    internal abstract Submission SubmitRequest(RequestOp op, RequestFlags flags, long sector, int bytes, Memory<byte> data, IRequestCompletion? target, long cookie, bool unrecordedWrite = false, StackedDisk? origin = null);

    internal abstract void ExitQueues();

    /// <summary>The largest request of <paramref name="op"/> in bytes: the op's sector limit, as an int, in whole logical blocks.</summary>
    internal long MaxRequestBytes(RequestOp op)
    {
        long sectors = op switch
        {
            RequestOp.Discard => Limits.MaxDiscardSectors,
            RequestOp.WriteZeroes => Limits.MaxWriteZeroesSectors,
            _ => Limits.MaxSectors,
        };

        return Math.Min(sectors << 9, int.MaxValue) & ~(long)(Limits.LogicalBlockSize - 1);
    }

    /// <summary>
    /// Submits a plugged batch: each planned request's outcome is reported to <paramref name="target"/> with the
    /// request's cookie, whether it ends inline or later.
    /// </summary>
    internal abstract void SubmitPlanned(ReadOnlySpan<PlannedRequest> plan, Memory<byte>[] segments, IRequestCompletion target, StackedDisk? origin = null);

    /// <summary>Polls the disk's poll queues once; a stacked disk polls the disk below.</summary>
    internal virtual int PollQueues()
    {
        int completed = 0;
        foreach (HwQueueBase queue in Queues)
        {
            if (queue.IsPoll)
            {
                completed += queue.Poll();
            }
        }

        return completed;
    }

    /// <summary>Runs every queue's dispatch list soon (after an unquiesce); a stacked disk runs the queues below.</summary>
    internal virtual void RunQueues()
    {
        foreach (HwQueueBase queue in Queues)
        {
            queue.RequestRun();
        }
    }

    /// <summary>
    /// Gets whether the request in <paramref name="slot"/> is this disk's: on its own queues, or for a stacked disk,
    /// submitted through it and not yet accounted. May be stale the moment it returns: callers scan, then look again.
    /// </summary>
    internal virtual bool OwnsSlot(RequestSlot slot) => Volatile.Read(ref slot._hctx)?.Disk == this;

    /// <summary>Gets the disk whose freed requests wake this disk's drain waiters: itself, or a stacked disk's request-based disk below.</summary>
    internal virtual Disk DrainSource => this;

    private bool AnyCallbackRunning()
    {
        if (Volatile.Read(ref _callbacks) != 0)
        {
            return true;
        }

        foreach (HwQueueBase queue in Queues)
        {
            if (queue.InCallback)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Counts a driver callback that removal must wait out on <paramref name="counter"/> (this disk's, for a disk-wide
    /// <see cref="Poll"/>; a queue's own, for that queue's callbacks); false once removal has closed callbacks, and
    /// then the callback must not run: the queues are exited or about to be.
    /// </summary>
    internal bool TryEnterCallback(ref int counter)
    {
        // Counted first, checked after (Dekker with RemoveAsync, which closes then waits for the counts to drop).
        Interlocked.Increment(ref counter);
        if (Volatile.Read(ref _callbacksClosed) != 0)
        {
            Interlocked.Decrement(ref counter);
            return false;
        }

        return true;
    }

    private void ExitCallback() => Interlocked.Decrement(ref _callbacks);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool IsGateClosed() => Volatile.Read(ref _gateClosed) != 0;

    /// <summary>Waits until the gate opens; returns false if the disk was removed.</summary>
    internal async ValueTask<bool> WaitGateOpenAsync()
    {
        while (true)
        {
            Task open;
            lock (_controlLock)
            {
                if (_removed != 0)
                {
                    return false;
                }

                if (_gateClosed == 0)
                {
                    return true;
                }

                open = _gateOpen.Task;
            }

            await open.ConfigureAwait(false);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void OnRequestFreed()
    {
        if (Volatile.Read(ref _drainWaiters) != 0)
        {
            Volatile.Read(ref _drained).TrySetResult();
        }
    }

    /// <summary>
    /// Waits until every unrecorded write of this disk that could have passed the write gate has ended: the
    /// exclusive side of <see cref="RangeLock"/>'s handshake, called after it raised the gate. Completes at once
    /// when there is none, which is the usual case.
    /// </summary>
    private ValueTask WaitForUnrecordedWritesAsync(CancellationToken cancellationToken)
    {
        List<(RequestSlot Slot, long Generation)>? pending = null;
        foreach (RequestSlot slot in TagSetCore.AllSlots)
        {
            long word = slot.StateWord;
            if (IsSettled(RequestState.State(word)))
            {
                continue;
            }

            // The fields may already be a newer request's: when the word moved on meanwhile, keep the slot to be safe
            // (waiting for a request that is not a write costs a little time, missing one would cost data).
            bool mayBeOurs = (slot._unrecordedWrite && OwnsSlot(slot)) || slot.StateWord != word;
            if (mayBeOurs)
            {
                (pending ??= []).Add((slot, RequestState.Generation(word)));
            }
        }

        return pending is null ? default : WaitForSlotsAsync(pending, cancellationToken);
    }

    private static bool IsSettled(int state) => state is RequestState.Free or RequestState.Ended;

    private async ValueTask WaitForSlotsAsync(List<(RequestSlot Slot, long Generation)> pending, CancellationToken cancellationToken)
    {
        Disk source = DrainSource;
        Interlocked.Increment(ref source._drainWaiters);
        try
        {
            while (true)
            {
                TaskCompletionSource signal = source.DrainSignal();

                // Checked after taking the signal: a free from here on sets it.
                pending.RemoveAll(static entry =>
                {
                    long word = entry.Slot.StateWord;
                    return RequestState.Generation(word) != entry.Generation || IsSettled(RequestState.State(word));
                });

                if (pending.Count == 0)
                {
                    return;
                }

                try
                {
                    await signal.Task.WaitAsync(TimeSpan.FromMilliseconds(50), cancellationToken).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    // Look again.
                }
            }
        }
        finally
        {
            Interlocked.Decrement(ref source._drainWaiters);
        }
    }

    /// <summary>Gets the signal the next freed request sets, shared by every waiter until it is set.</summary>
    private TaskCompletionSource DrainSignal()
    {
        while (true)
        {
            TaskCompletionSource current = Volatile.Read(ref _drained);
            if (!current.Task.IsCompleted)
            {
                return current;
            }

            TaskCompletionSource fresh = NewSignal(completed: false);
            if (Interlocked.CompareExchange(ref _drained, fresh, current) == current)
            {
                return fresh;
            }
        }
    }

    private static TaskCompletionSource NewSignal(bool completed)
    {
        var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (completed)
        {
            signal.SetResult();
        }

        return signal;
    }

    internal virtual void FailDispatchLists()
    {
        foreach (HwQueueBase queue in Queues)
        {
            queue.FailDispatchList(BlockStatus.Offline);
        }
    }

    private async ValueTask WaitForDrainAsync(bool driverOwnedOnly, CancellationToken cancellationToken, Action? onWake = null)
    {
        Disk source = DrainSource;
        Interlocked.Increment(ref source._drainWaiters);
        try
        {
            while (true)
            {
                TaskCompletionSource signal = source.DrainSignal();

                // Counted after publishing the signal: a free from here on sets it.
                if (CountActive(driverOwnedOnly) == 0)
                {
                    return;
                }

                try
                {
                    // The periodic wake-up covers a free that raced with the exchange above.
                    await signal.Task.WaitAsync(TimeSpan.FromMilliseconds(50), cancellationToken).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    // Count again.
                }

                onWake?.Invoke();
            }
        }
        finally
        {
            Interlocked.Decrement(ref source._drainWaiters);
        }
    }

    internal virtual int CountActive(bool driverOwnedOnly)
    {
        int count = 0;
        foreach (RequestSlot slot in TagSetCore.AllSlots)
        {
            // An ended request whose submitter has not yet read the status is done for the block layer and the
            // driver alike; only its tag waits for the submitter, so it does not hold up a drain.
            int state = RequestState.State(slot.StateWord);
            if (state is not (RequestState.Free or RequestState.Ended) && Volatile.Read(ref slot._hctx)?.Disk == this
                && (!driverOwnedOnly || RequestState.IsDriverOwned(state)))
            {
                count++;
            }
        }

        return count;
    }

    internal virtual int CountDispatching()
    {
        int count = 0;
        foreach (RequestSlot slot in TagSetCore.AllSlots)
        {
            if (RequestState.State(slot.StateWord) == RequestState.Dispatching && Volatile.Read(ref slot._hctx)?.Disk == this)
            {
                count++;
            }
        }

        return count;
    }
}
