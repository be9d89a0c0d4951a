using System.Buffers;
using System.Runtime.CompilerServices;
using Blkmq.Metrics;

namespace Blkmq;

/// <summary>A disk bound to its driver's types: owns the hardware queues and the typed submission fast path.</summary>
internal sealed class GenDisk<TDriver, TData, THw, TDisk> : Disk
    where TDriver : struct, IBlockDriver<TData, THw, TDisk>
{
    private readonly HwQueue<TDriver, TData, THw, TDisk>[] _queues;
    private readonly HwQueueBase[] _baseQueues;
    private readonly int[] _defaultMap;
    private readonly int[] _pollMap;
    private readonly BlockClock _clock;
    private int _exited;

    public GenDisk(TagSet<TDriver, TData, THw, TDisk> tagSet, TDisk diskData, DiskOptions options)
        : base(tagSet, options)
    {
        if (options.Limits.IsZoned && options.Zones is null)
        {
            ThrowHelper.ThrowArgument("A zoned disk must declare its zone report (DiskOptions.Zones).", nameof(options));
        }

        _clock = tagSet.Clock;
        _defaultMap = tagSet.Map.DefaultQueues;
        _pollMap = tagSet.Map.PollQueues;
        int count = tagSet.Options.TotalQueueCount;
        _queues = new HwQueue<TDriver, TData, THw, TDisk>[count];
        TDriver driver = tagSet.Driver;
        int created = 0;
        try
        {
            for (int i = 0; i < count; i++)
            {
                THw data = driver.InitHctx(diskData, i);
                _queues[i] = new HwQueue<TDriver, TData, THw, TDisk>(this, tagSet, diskData, i, i >= tagSet.Options.HardwareQueueCount, data);
                created++;
            }
        }
        catch
        {
            // InitHctx threw: exit the queues made so far; the disk never existed.
            for (int i = 0; i < created; i++)
            {
                _queues[i].Exit();
            }

            throw;
        }

        _baseQueues = _queues;
        Allocation = options.Allocation;
        Zones = options.Limits.IsZoned ? options.Zones : null;
        DiskMetrics.Register(this);
    }

    internal override HwQueueBase[] Queues => _baseQueues;

    public override IAllocationSource? Allocation { get; }

    public override IZonedDevice? Zones { get; }

    internal override void ExitQueues()
    {
        if (Interlocked.Exchange(ref _exited, 1) != 0)
        {
            return;
        }

        foreach (HwQueue<TDriver, TData, THw, TDisk> queue in _queues)
        {
            queue.Exit();
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal override Submission SubmitRequest(RequestOp op, RequestFlags flags, long sector, int bytes, Memory<byte> data, IRequestCompletion? target, long cookie, bool unrecordedWrite = false, StackedDisk? origin = null)
    {
        HwQueue<TDriver, TData, THw, TDisk> queue = SelectQueue(flags);
        if (queue.Tags.TryAllocate(out int tag))
        {
            RequestSlot<TData> slot = queue.Slots[tag];
            long now = _clock.Now();
            slot._startTimestamp = now;
            long generation = slot.Prepare(queue, op, flags, sector, bytes, target, cookie, unrecordedWrite, origin);
            if (!data.IsEmpty)
            {
                slot.AddSegment(data);
            }

            Statistics.OnStart(slot, now);
            origin?.OnLowerStart(slot, now);
            Submission submission = queue.SubmitDirect(slot, generation, slot.AwaiterVersion);
            if (!submission.IsRejected)
            {
                return submission;
            }

            slot.Release();
        }

        // An unrecorded write never waits here: the slow path would admit it after the write gate, unseen.
        return unrecordedWrite ? Submission.WriteGated() : SubmitSlow(op, flags, sector, bytes, data, target, cookie, origin);
    }

    internal override void SubmitPlanned(ReadOnlySpan<PlannedRequest> plan, Memory<byte>[] segments, IRequestCompletion target, StackedDisk? origin = null)
    {
        // A plug: all requests go to the submitter's queue and are dispatched as one batch, the last with isLast.
        HwQueue<TDriver, TData, THw, TDisk> queue = SelectQueue(RequestFlags.None);
        (RequestSlot<TData> Slot, long Generation)[] ready = ArrayPool<(RequestSlot<TData>, long)>.Shared.Rent(plan.Length);
        int count = 0;
        int next = 0;
        long now = _clock.Now();
        for (; next < plan.Length; next++)
        {
            ref readonly PlannedRequest request = ref plan[next];
            if (!queue.Tags.TryAllocate(out int tag))
            {
                break;
            }

            RequestSlot<TData> slot = queue.Slots[tag];
            slot._startTimestamp = now;
            long generation = slot.Prepare(queue, request.Op, request.Flags, request.Sector, request.Bytes, target, request.Cookie, origin: origin);
            for (int i = 0; i < request.SegmentCount; i++)
            {
                slot.AddSegment(segments[request.FirstSegment + i]);
            }

            slot._mergeCount = request.EntryCount - 1;
            Statistics.OnStart(slot, now);
            origin?.OnLowerStart(slot, now);
            ready[count++] = (slot, generation);
        }

        // One full fence for the batch between the Prepared writes and the gate reads (the freeze handshake), the
        // stacked disks' above included.
        Interlocked.MemoryBarrier();
        if (IsGateClosed() || (origin is not null && origin.IsChainHeld()))
        {
            for (int i = 0; i < count; i++)
            {
                ready[i].Slot.Release();
            }

            next = 0;
            count = 0;
        }

        if (count > 0)
        {
            queue.DispatchBatch(ready.AsSpan(0, count));
        }

        Array.Clear(ready, 0, count);
        ArrayPool<(RequestSlot<TData>, long)>.Shared.Return(ready);

        // Out of tags (or frozen): the rest waits its turn one by one.
        for (; next < plan.Length; next++)
        {
            PlannedRequest request = plan[next];
            _ = CompleteToTargetAsync(request.Op, request.Flags, request.Sector, request.Bytes, segments.AsMemory(request.FirstSegment, request.SegmentCount), target, request.Cookie, origin, request.EntryCount - 1);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private HwQueue<TDriver, TData, THw, TDisk> SelectQueue(RequestFlags flags)
    {
        int cpu = Thread.GetCurrentProcessorId();
        int[] map = (flags & RequestFlags.Polled) != 0 && _pollMap.Length > 0 && TagSetCore.PollQueueCount > 0 ? _pollMap : _defaultMap;
        return _queues[map[(uint)cpu % (uint)map.Length]];
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private Submission SubmitSlow(RequestOp op, RequestFlags flags, long sector, int bytes, Memory<byte> data, IRequestCompletion? target, long cookie, StackedDisk? origin)
    {
        ReadOnlyMemory<Memory<byte>> segments = data.IsEmpty ? default : new[] { data };
        if (target is null)
        {
            return Submission.Slow(SubmitWaitingAsync(op, flags, sector, bytes, segments, target: null, cookie, origin));
        }

        _ = CompleteToTargetAsync(op, flags, sector, bytes, segments, target, cookie, origin);
        return Submission.Callback();
    }

    private async Task CompleteToTargetAsync(RequestOp op, RequestFlags flags, long sector, int bytes, ReadOnlyMemory<Memory<byte>> segments, IRequestCompletion target, long cookie, StackedDisk? origin, int mergeCount = 0)
    {
        BlockStatus status = await SubmitWaitingAsync(op, flags, sector, bytes, segments, target, cookie, origin, mergeCount).ConfigureAwait(false);
        if (status != PendingOnTarget)
        {
            target.OnRequestCompleted(cookie, status);
        }
    }

    // A sentinel the slow path returns when the request went to the driver with a callback target.
    private const BlockStatus PendingOnTarget = (BlockStatus)255;

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<BlockStatus> SubmitWaitingAsync(RequestOp op, RequestFlags flags, long sector, int bytes, ReadOnlyMemory<Memory<byte>> segments, IRequestCompletion? target, long cookie, StackedDisk? origin, int mergeCount = 0)
    {
        while (true)
        {
            if (IsGateClosed() && !await WaitGateOpenAsync().ConfigureAwait(false))
            {
                return BlockStatus.Offline;
            }

            // A stacked disk above that froze, quiesced or went away holds the IO as its own gate would (rejections by
            // it land here).
            if (origin is not null && origin.IsChainHeld() && !await origin.WaitChainOpenAsync().ConfigureAwait(false))
            {
                return BlockStatus.Offline;
            }

            HwQueue<TDriver, TData, THw, TDisk> queue = SelectQueue(flags);
            int tag = await queue.Tags.AllocateAsync().ConfigureAwait(false);
            RequestSlot<TData> slot = queue.Slots[tag];
            long now = _clock.Now();
            slot._startTimestamp = now;
            long generation = slot.Prepare(queue, op, flags, sector, bytes, target, cookie, origin: origin);
            for (int i = 0; i < segments.Length; i++)
            {
                slot.AddSegment(segments.Span[i]);
            }

            // A plugged request that waited for its tag still carries the IOs merged into it (the statistics' merges).
            slot._mergeCount = mergeCount;
            Statistics.OnStart(slot, now);
            origin?.OnLowerStart(slot, now);
            Submission submission = queue.SubmitDirect(slot, generation, slot.AwaiterVersion);
            if (submission.IsRejected)
            {
                slot.Release();
                continue;
            }

            if (target is not null && !submission.IsCompleted)
            {
                return PendingOnTarget;
            }

            return await submission.AsStatusTask().ConfigureAwait(false);
        }
    }
}
