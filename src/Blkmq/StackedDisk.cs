using System.Buffers;
using System.Runtime.CompilerServices;

namespace Blkmq;

/// <summary>
/// A bio-based disk stacked on a lower disk (device-mapper's bio-based linear target): no tag set, requests or queues
/// of its own. A submission is checked (range, read-only) and handed, its sector shifted by
/// <see cref="StackedDiskOptions.LowerOffset"/>, to the lower disk's submission; the lower request completes straight
/// to the caller (its pooled completion source, or the caller's target), so a stacked disk adds a few nanoseconds
/// per IO where a request-based filter disk adds a second block-layer pass.
/// </summary>
/// <remarks>
/// <para>
/// In-flight tracking without a counter (percpu_ref's job, done by the requests themselves): the request below
/// carries the stacked disk it was submitted to (its origin; stacked disks over stacked disks form a chain down to the
/// first request-based disk, the bottom). An IO is in flight for every stacked disk of its origin's chain from the
/// bottom request's preparation until the stack has accounted its end. The bottom disk checks the gates of the chain
/// (freeze and removal, quiesce, the range lock's write gate) where it checks its own, after the same full fence that
/// follows the request's Prepared write: the Dekker handshake with <see cref="Disk.FreezeAsync"/> and
/// <see cref="Disk.RemoveAsync"/>, which close the gate, then scan the bottom's request slots for IO of this disk. A
/// refused IO waits in the bottom's slow path for the chain's gates, or fails with <see cref="BlockStatus.Offline"/>
/// once a disk of the chain was removed.
/// </para>
/// <para>
/// Statistics: the stacked disk keeps its own (<see cref="Disk.GetStatistics"/>, metrics), fed from the bottom
/// request's accounting with the bottom's timestamps, so they cost a few plain adds per IO and no clock read.
/// <see cref="Disk.TagSet"/> is the bottom's (queue count, depth and poll queues are what IO here runs on);
/// <see cref="Disk.InFlight"/> counts this disk's IO. Quiesce stops this disk handing new IO below (it waits, in
/// order of arrival as far as the thread pool keeps it, in the submitters' slow path); what was handed below is the
/// lower disk's to dispatch.
/// </para>
/// </remarks>
public sealed class StackedDisk : Disk
{
    private static readonly HwQueueBase[] s_noQueues = [];

    private readonly Disk _lower;
    private readonly Disk _bottom;

    // This disk, then each stacked disk below it down to the bottom (exclusive): every disk an IO submitted here enters.
    private readonly StackedDisk[] _chain;
    private readonly long _offsetSectors;
    private readonly IZonedDevice? _zones;
    private readonly bool _refuseWrites;
    private readonly IRequestEndObserver? _observer;

    // Which IOs of a slot the chain times with the precise clock: (count & mask) == 0; -1 none.
    private readonly int _sampleMask;
    private readonly TimeProvider _time;
    private readonly double _nsPerTick;
    private TaskCompletionSource _unquiesced = NewUnquiescedSignal();

    private StackedDisk(Disk lower, DiskOptions options, StackedDiskOptions mapping)
        : base(lower.TagSetCore, options)
    {
        _lower = lower;
        _offsetSectors = mapping.LowerOffset >> 9;
        _refuseWrites = mapping.RefuseWrites;
        _observer = mapping.EndObserver;
        Allocation = options.Allocation;
        if (lower is StackedDisk stacked)
        {
            _bottom = stacked._bottom;
            _chain = [this, .. stacked._chain];
        }
        else
        {
            _bottom = lower;
            _chain = [this];
        }

        int interval = 0;
        foreach (StackedDisk disk in _chain)
        {
            ChainOffsetSectors += disk._offsetSectors;
            int own = disk._observer?.LatencySampleInterval ?? 0;
            if (own > 0)
            {
                interval = interval == 0 ? own : Math.Min(interval, own);
            }
        }

        if (options.Limits.IsZoned)
        {
            _zones = _offsetSectors == 0 && options.Capacity == lower.Capacity
                ? lower.Zones
                : new ShiftedZones(lower.Zones!, mapping.LowerOffset, options.Capacity, (long)options.Limits.ZoneSectors << 9);
        }

        _sampleMask = interval == 0 ? -1 : (int)System.Numerics.BitOperations.RoundUpToPowerOf2((uint)interval) - 1;
        _time = lower.TagSetCore.Time;
        _nsPerTick = 1e9 / _time.TimestampFrequency;
    }

    /// <summary>Gets the disk below.</summary>
    public Disk Lower => _lower;

    /// <inheritdoc/>
    public override IAllocationSource? Allocation { get; }

    /// <inheritdoc/>
    public override IZonedDevice? Zones => _zones;

    /// <summary>Gets how many sectors an IO submitted here is shifted by on its way to the bottom disk (the chain's offsets).</summary>
    internal long ChainOffsetSectors { get; }

    internal override HwQueueBase[] Queues => s_noQueues;

    internal override Disk DrainSource => _bottom;

    /// <summary>
    /// Stacks a bio-based disk on <paramref name="lower"/>. Remove it (<see cref="Disk.RemoveAsync"/>) before the disk
    /// below; the caller owns both.
    /// </summary>
    /// <param name="lower">The disk below: request-based or stacked, not zoned.</param>
    /// <param name="options">The new disk's name, capacity, limits and flags: its range must lie inside the lower disk
    /// from <see cref="StackedDiskOptions.LowerOffset"/>, its logical blocks be whole lower blocks and its request limits
    /// within the lower's (each IO goes below unsplit).</param>
    /// <param name="mapping">The offset below, the write refusal, the end observer.</param>
    /// <returns>The disk.</returns>
    /// <exception cref="ArgumentException">The options do not fit the lower disk.</exception>
    public static StackedDisk Create(Disk lower, DiskOptions options, StackedDiskOptions mapping)
    {
        ArgumentNullException.ThrowIfNull(lower);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(mapping);
        QueueLimits below = lower.Limits;
        QueueLimits limits = options.Limits;
        long offset = mapping.LowerOffset;
        if (lower.IsZoned != limits.IsZoned || (limits.IsZoned && (limits.ZoneSectors != below.ZoneSectors
            || limits.MaxZoneAppendSectors > below.MaxZoneAppendSectors || limits.MaxOpenZones != below.MaxOpenZones
            || limits.MaxActiveZones != below.MaxActiveZones)))
        {
            ThrowHelper.ThrowArgument($"A stacked disk is zoned exactly when the disk below is, with its zone size and limits (disk '{lower.Name}' {(lower.IsZoned ? $"has zones of {(long)below.ZoneSectors << 9} bytes" : "is not zoned")}).", nameof(options));
        }

        if (lower.IsZoned)
        {
            // dm-linear over a zoned disk: whole zones only, so every zone below is a zone here, at a shifted start.
            long zone = (long)below.ZoneSectors << 9;
            if (offset % zone != 0 || (options.Capacity % zone != 0 && offset + options.Capacity != lower.Capacity) || options.Capacity == 0)
            {
                ThrowHelper.ThrowArgument($"Over zoned disk '{lower.Name}' the range [{offset}, {offset + options.Capacity}) must be whole zones of {zone} bytes.", nameof(mapping));
            }
        }

        if (offset < 0 || offset % below.LogicalBlockSize != 0 || options.Capacity < 0 || offset > lower.Capacity - options.Capacity)
        {
            ThrowHelper.ThrowArgument($"The range [{offset}, {offset + options.Capacity}) is not whole blocks of {below.LogicalBlockSize} bytes inside disk '{lower.Name}' ({lower.Capacity} bytes).", nameof(mapping));
        }

        if (limits.LogicalBlockSize % below.LogicalBlockSize != 0 || limits.MaxSectors > below.MaxSectors
            || limits.MaxDiscardSectors > below.MaxDiscardSectors || limits.MaxWriteZeroesSectors > below.MaxWriteZeroesSectors
            || limits.MaxSegments > below.MaxSegments)
        {
            ThrowHelper.ThrowArgument($"The limits must be within disk '{lower.Name}''s: each IO goes below unsplit.", nameof(options));
        }

        var disk = new StackedDisk(lower, options, mapping);
        Metrics.DiskMetrics.Register(disk);
        BlkmqLog.StackedDiskAdded(disk.TagSetCore.Logger, disk.Name, lower.Name, disk.Capacity, offset, limits.LogicalBlockSize);
        return disk;
    }

    internal override void ExitQueues()
    {
        // No queues of its own: the bottom disk's are exited by its own removal.
    }

    internal override Submission SubmitRequest(RequestOp op, RequestFlags flags, long sector, int bytes, Memory<byte> data, IRequestCompletion? target, long cookie, bool unrecordedWrite = false, StackedDisk? origin = null)
    {
        BlockStatus refused = Check(op, sector, bytes);
        if (refused != BlockStatus.Ok)
        {
            return Submission.Done(refused);
        }

        return _lower.SubmitRequest(op, flags, sector + _offsetSectors, bytes, data, target, cookie, unrecordedWrite, origin ?? this);
    }

    internal override void SubmitPlanned(ReadOnlySpan<PlannedRequest> plan, Memory<byte>[] segments, IRequestCompletion target, StackedDisk? origin = null)
    {
        origin ??= this;
        bool allowed = true;
        foreach (ref readonly PlannedRequest request in plan)
        {
            allowed &= Check(request.Op, request.Sector, request.Bytes) == BlockStatus.Ok;
        }

        if (allowed && _offsetSectors == 0)
        {
            _lower.SubmitPlanned(plan, segments, target, origin);
            return;
        }

        // Remapped (or partly refused): a copy of the plan, from the pool.
        PlannedRequest[] mapped = ArrayPool<PlannedRequest>.Shared.Rent(plan.Length);
        int count = 0;
        foreach (ref readonly PlannedRequest request in plan)
        {
            BlockStatus refused = Check(request.Op, request.Sector, request.Bytes);
            if (refused != BlockStatus.Ok)
            {
                target.OnRequestCompleted(request.Cookie, refused);
                continue;
            }

            PlannedRequest copy = request;
            copy.Sector += _offsetSectors;
            mapped[count++] = copy;
        }

        if (count > 0)
        {
            _lower.SubmitPlanned(mapped.AsSpan(0, count), segments, target, origin);
        }

        ArrayPool<PlannedRequest>.Shared.Return(mapped);
    }

    internal override int PollQueues() => _bottom.Poll();

    internal override void FailDispatchLists()
    {
        // Removal: IO a quiesce held wakes up to find the disk gone.
        Volatile.Read(ref _unquiesced).TrySetResult();

        foreach (HwQueueBase queue in _bottom.Queues)
        {
            queue.FailDispatchList(BlockStatus.Offline, this);
        }
    }

    internal override bool OwnsSlot(RequestSlot slot) => Volatile.Read(ref slot._origin) is { } origin && origin.ChainContains(this);

    internal override int CountActive(bool driverOwnedOnly)
    {
        int count = 0;
        foreach (RequestSlot slot in TagSetCore.AllSlots)
        {
            // Ended but not yet accounted by the stack (its origin still set) is still ours: the end observer runs then.
            int state = RequestState.State(slot.StateWord);
            if (state != RequestState.Free && OwnsSlot(slot) && (!driverOwnedOnly || RequestState.IsDriverOwned(state)))
            {
                count++;
            }
        }

        return count;
    }

    internal override int CountDispatching()
    {
        int count = 0;
        foreach (RequestSlot slot in TagSetCore.AllSlots)
        {
            if (RequestState.State(slot.StateWord) == RequestState.Dispatching && OwnsSlot(slot))
            {
                count++;
            }
        }

        return count;
    }

    /// <summary>Gets whether a disk of this origin's chain holds new IO: its gate is closed (frozen, removed) or it is quiesced.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool IsChainHeld()
    {
        foreach (StackedDisk disk in _chain)
        {
            if (disk.IsGateClosed() || disk.IsQuiesced)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Gets whether a disk of this origin's chain has its range lock's write gate raised.</summary>
    internal bool IsChainExclusiveWanted()
    {
        foreach (StackedDisk disk in _chain)
        {
            if (disk.StreamLock.IsExclusiveWanted)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Waits until no disk of this origin's chain holds new IO; false once one of them was removed.</summary>
    internal async ValueTask<bool> WaitChainOpenAsync()
    {
        foreach (StackedDisk disk in _chain)
        {
            if (disk.IsGateClosed() && !await disk.WaitGateOpenAsync().ConfigureAwait(false))
            {
                return false;
            }

            if (disk.IsQuiesced && !await disk.WaitUnquiescedAsync().ConfigureAwait(false))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Called by the last <see cref="Disk.Unquiesce"/>: wakes the IO the quiesce held (it waits in the submitters' slow path).</summary>
    internal override void RunQueues() => Interlocked.Exchange(ref _unquiesced, NewUnquiescedSignal()).TrySetResult();

    private async ValueTask<bool> WaitUnquiescedAsync()
    {
        while (true)
        {
            // The signal is read before the flag: an unquiesce after this read completes this very signal.
            TaskCompletionSource signal = Volatile.Read(ref _unquiesced);
            if (IsRemoved)
            {
                return false;
            }

            if (!IsQuiesced)
            {
                return true;
            }

            try
            {
                await signal.Task.WaitAsync(TimeSpan.FromMilliseconds(50)).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // Look again (a removal does not set the signal).
            }
        }
    }

    private static TaskCompletionSource NewUnquiescedSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>
    /// Called by the bottom disk when it starts a request submitted here (origin): advances the chain's busy-time
    /// stamps and picks whether the chain times this IO with the precise clock. The caller owns the slot.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal void OnLowerStart(RequestSlot slot, long now)
    {
        foreach (StackedDisk disk in _chain)
        {
            disk.Statistics.OnStart(now);
        }

        slot._stackStart = _sampleMask >= 0 && (++slot._stackIos & _sampleMask) == 0 ? Math.Max(1, _time.GetTimestamp()) : 0;
    }

    /// <summary>
    /// Called by the bottom disk's accounting of a request submitted here: accounts it to every disk of the chain,
    /// tells their observers when the chain timed it, then lets the request go (it is no longer in flight for the chain). The caller owns the
    /// slot exclusively, so per-slot state is written with plain stores.
    /// </summary>
    internal void OnLowerEnded(RequestSlot slot, BlockStatus status, long now)
    {
        foreach (StackedDisk disk in _chain)
        {
            disk.Statistics.Account(slot, status, now);
        }

        // Only a timed IO goes to the observers: what they count of every IO, each disk's statistics above counted.
        long start = slot._stackStart;
        if (start != 0)
        {
            long latency = (long)((_time.GetTimestamp() - start) * _nsPerTick);
            var end = new RequestEnd(slot._op, slot._bytes, status, slot.Index, latency);
            foreach (StackedDisk disk in _chain)
            {
                disk._observer?.OnRequestEnded(in end);
            }
        }

        // Last, and a release: a drain that sees the origin gone knows the observers above have returned.
        Volatile.Write(ref slot._origin, null);
    }

    private bool ChainContains(StackedDisk disk)
    {
        foreach (StackedDisk member in _chain)
        {
            if (member == disk)
            {
                return true;
            }
        }

        return false;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private BlockStatus Check(RequestOp op, long sector, int bytes)
    {
        // bio_check_ro and bio_check_eod: a caller that skipped its checks cannot write a read-only disk, nor reach
        // the lower disk's data outside this disk's range.
        if (op is not (RequestOp.Read or RequestOp.Flush) && (_refuseWrites || IsReadOnly))
        {
            return BlockStatus.ReadOnly;
        }

        // Reset-all below would reset the lower disk's zones outside this range too (dm emulates it zone by zone; here a
        // caller resets the zones one by one). A range that is not the whole disk at the bottom has shifted zones.
        if (op == RequestOp.ZoneResetAll && _zones is ShiftedZones)
        {
            return BlockStatus.NotSupported;
        }

        return sector < 0 || sector + (bytes >> 9) > CapacitySectors ? BlockStatus.Invalid : BlockStatus.Ok;
    }

    /// <summary>The zone report of a stacked disk that starts at a zone boundary of the disk below: the lower zones in its range, moved down.</summary>
    private sealed class ShiftedZones(IZonedDevice lower, long lowerOffset, long capacity, long zoneBytes) : IZonedDevice
    {
        public int ZoneCount => (int)((capacity + zoneBytes - 1) / zoneBytes);

        public int ReportZones(long offset, Span<BlockZone> zones)
        {
            if (offset < 0 || offset >= capacity)
            {
                return 0;
            }

            int wanted = Math.Min(zones.Length, ZoneCount - (int)(offset / zoneBytes));
            int filled = lower.ReportZones(offset + lowerOffset, zones[..wanted]);
            for (int i = 0; i < filled; i++)
            {
                BlockZone zone = zones[i];
                zones[i] = zone with { Start = zone.Start - lowerOffset, WritePointer = zone.WritePointer < 0 ? zone.WritePointer : zone.WritePointer - lowerOffset };
            }

            return filled;
        }
    }
}
