using System.Diagnostics;
using System.Runtime.CompilerServices;
using Blkmq.Emulation;

namespace Blkmq.Drivers.Null;

/// <summary>
/// The null driver's per-disk data (null_blk's <c>struct nullb_device</c>, the configfs item): its parameters,
/// its memory and write cache, bad blocks, zones, bandwidth limit and fault injection, and its power. The device
/// outlives its disk: powering it off removes the disk and keeps the data (but loses the write cache), powering
/// it on adds a new disk over the same data, as null_blk's <c>power</c> attribute does.
/// </summary>
public sealed class NullDevice : IAllocationSource, IZonedDevice
{
    /// <summary>A status <see cref="Handle"/> returns for a request that a timeout fault swallows: nobody ends it.</summary>
    internal const BlockStatus Dropped = (BlockStatus)255;

    private readonly Lock _powerLock = new();
    private readonly TagSet<NullDriver, NullRequest, NullHwQueue, NullDevice> _tagSet;
    private readonly Action<NullDevice> _powerChanged;
    private readonly bool _hasStaticFeatures;
    private readonly bool _fuaWrites;
    private Disk? _disk;
    private bool _hasFeatures;
    private bool _removed;

    internal NullDevice(NullBlockOptions options, int index, TagSet<NullDriver, NullRequest, NullHwQueue, NullDevice> tagSet, bool ownsTagSet, Action<NullDevice> powerChanged)
    {
        Options = options;
        Index = index;
        Name = options.Name + index.ToString(System.Globalization.CultureInfo.InvariantCulture);
        _tagSet = tagSet;
        OwnsTagSet = ownsTagSet;
        _powerChanged = powerChanged;
        IrqMode = options.IrqMode;
        CompletionTicks = options.CompletionNsec * Stopwatch.Frequency / 1_000_000_000;
        Store = options.MemoryBacked ? new MemoryStore(options.Size) : null;
        Cache = Store is not null && options.EffectiveCacheSize > 0 ? new NullWriteCache(Store, options.EffectiveCacheSize) : null;
        _fuaWrites = Cache is not null;
        MaxSectors = options.MaxSectors == 0 ? new QueueLimits().MaxSectors : options.MaxSectors;
        Zones = options.Zoned ? new NullZones(this, options, MaxSectors) : null;
        // null_blk's mbps: a bandwidth budget refilled every 20 ms timer tick, here the shared token bucket with that burst.
        Throttle = options.Mbps > 0 ? new TokenBucket((long)options.Mbps << 20, 0, TimeSpan.FromMilliseconds(20), options.TimeProvider) : null;
        TimeoutFault = FaultInjector.Create(options.TimeoutFault);
        RequeueFault = FaultInjector.Create(options.RequeueFault);
        InitHctxFault = FaultInjector.Create(options.InitHctxFault);
        BadBlocks = new NullBadBlocks(RecomputeFeatures);
        _hasStaticFeatures = Store is not null || Zones is not null || Throttle is not null || TimeoutFault is not null || RequeueFault is not null;
        foreach (BadBlockRange range in options.BadBlocks)
        {
            BadBlocks.Add(range.Sector, range.Count);
        }

        RecomputeFeatures();
    }

    /// <summary>Gets the parameters.</summary>
    public NullBlockOptions Options { get; }

    /// <summary>Gets the device's index in its instance: the number in its name.</summary>
    public int Index { get; }

    /// <summary>Gets the disk's name, for example <c>nullb0</c>.</summary>
    public string Name { get; }

    /// <summary>Gets the disk while the device is powered on; <see langword="null"/> while it is off.</summary>
    public Disk? Disk => Volatile.Read(ref _disk);

    /// <summary>Gets whether the device is powered on (has a disk).</summary>
    public bool Power => Disk is not null;

    /// <summary>Gets the bad sectors, changeable at any time (null_blk's <c>badblocks</c> attribute).</summary>
    public NullBadBlocks BadBlocks { get; }

    /// <summary>Gets how many bytes of backing memory are allocated (0 when not memory backed).</summary>
    public long AllocatedBytes => Store?.AllocatedBytes ?? 0;

    /// <summary>Gets how many bytes sit in the write cache, not yet durable (0 without <c>cache_size</c>).</summary>
    public long CachedBytes => Cache?.CachedBytes ?? 0;

    /// <summary>Gets whether the disk is zoned.</summary>
    public bool IsZoned => Zones is not null;

    /// <inheritdoc/>
    /// <remarks>0 when the device is not zoned.</remarks>
    public int ZoneCount => Zones?.ZoneCount ?? 0;

    internal TagSet<NullDriver, NullRequest, NullHwQueue, NullDevice> TagSet => _tagSet;

    internal bool OwnsTagSet { get; }

    internal MemoryStore? Store { get; }

    internal NullWriteCache? Cache { get; }

    internal NullZones? Zones { get; }

    internal TokenBucket? Throttle { get; }

    internal FaultInjector? TimeoutFault { get; }

    internal FaultInjector? RequeueFault { get; }

    internal FaultInjector? InitHctxFault { get; }

    internal IrqMode IrqMode { get; }

    internal long CompletionTicks { get; }

    internal int MaxSectors { get; }

    /// <summary>
    /// Gets whether any feature beyond plain completion is on: the one field the hot path reads before it
    /// completes a request; everything else is behind it, in <see cref="Handle"/>.
    /// </summary>
    internal bool HasFeatures
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _hasFeatures;
    }

    /// <summary>Gets whether the page that holds a byte offset is allocated (always false without memory backing).</summary>
    /// <param name="offset">A byte offset.</param>
    /// <returns>Whether data was written there and not discarded (in the backing memory or the write cache).</returns>
    public bool IsAllocated(long offset) => Store is not null && (Store.IsAllocated(offset) || (Cache?.Contains(offset) ?? false));

    /// <inheritdoc/>
    /// <remarks>Without memory backing every range is reported allocated (reads leave buffers untouched).</remarks>
    public ValueTask<AllocationExtent> GetExtentAsync(long offset, long maxLength, CancellationToken cancellationToken = default)
    {
        // The answer is in memory: a completed ValueTask, no allocation.
        bool allocated = GetExtent(offset, maxLength, out long length);
        return new ValueTask<AllocationExtent>(new AllocationExtent(allocated, length));
    }

    /// <summary>Describes the extent at <paramref name="offset"/> (see <see cref="GetExtentAsync"/>), synchronously.</summary>
    /// <param name="offset">A byte offset inside the disk.</param>
    /// <param name="maxLength">The most bytes to describe.</param>
    /// <param name="length">How many bytes from <paramref name="offset"/> share the answer.</param>
    /// <returns>Whether the extent is allocated.</returns>
    public bool GetExtent(long offset, long maxLength, out long length)
    {
        if (Store is null)
        {
            // Without memory backing nothing is kept: every range is a hole, as nbdkit's null plugin reports it.
            length = maxLength;
            return false;
        }

        if (Cache is null)
        {
            return Store.GetExtent(offset, maxLength, out length);
        }

        bool allocated = IsAllocated(offset);
        long end = offset + maxLength;
        long next = (offset | (MemoryStore.PageSize - 1)) + 1;
        while (next < end && IsAllocated(next) == allocated)
        {
            next += MemoryStore.PageSize;
        }

        length = Math.Min(next, end) - offset;
        return allocated;
    }

    /// <inheritdoc/>
    /// <remarks>Returns 0 when the device is not zoned.</remarks>
    public int ReportZones(long offset, Span<BlockZone> zones) => Zones?.ReportZones(offset, zones) ?? 0;

    /// <summary>
    /// Makes the sequential zone that holds <paramref name="offset"/> read-only, or, if it already is, empty
    /// again (null_blk's <c>zone_readonly</c> attribute). A read-only zone can be read but not written or managed.
    /// </summary>
    /// <param name="offset">A byte offset inside the zone.</param>
    /// <exception cref="InvalidOperationException">The device is not zoned.</exception>
    /// <exception cref="ArgumentException">The zone is conventional, or the offset is beyond the last zone.</exception>
    public void SetZoneReadOnly(long offset) => ZonesOrThrow().SetCondition(offset, ZoneCondition.ReadOnly);

    /// <summary>
    /// Takes the sequential zone that holds <paramref name="offset"/> offline, or, if it already is, makes it
    /// empty again (null_blk's <c>zone_offline</c> attribute). An offline zone can be neither read nor written.
    /// </summary>
    /// <param name="offset">A byte offset inside the zone.</param>
    /// <exception cref="InvalidOperationException">The device is not zoned.</exception>
    /// <exception cref="ArgumentException">The zone is conventional, or the offset is beyond the last zone.</exception>
    public void SetZoneOffline(long offset) => ZonesOrThrow().SetCondition(offset, ZoneCondition.Offline);

    /// <summary>
    /// Simulates a power cut and restore: whatever is in the write cache (written but neither flushed nor FUA) is
    /// lost; the backing memory keeps what was made durable. The disk stays up. No effect without a cache.
    /// </summary>
    public void PowerCut() => Cache?.Drop();

    /// <summary>
    /// Powers the device on (null_blk's <c>power=1</c>): adds a disk named <see cref="Name"/> over the device's
    /// data. Nothing happens if it is on already.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The device was removed from its instance.</exception>
    /// <exception cref="IOException">An injected <c>init_hctx</c> fault failed the disk's creation.</exception>
    public void PowerOn()
    {
        lock (_powerLock)
        {
            ObjectDisposedException.ThrowIf(_removed, this);
            if (_disk is not null)
            {
                return;
            }

            Volatile.Write(ref _disk, _tagSet.AddDisk(this, CreateDiskOptions()));
        }

        _powerChanged(this);
    }

    /// <summary>
    /// Powers the device off (null_blk's <c>power=0</c>): removes the disk (its in-flight IO drains or fails, see
    /// <see cref="Blkmq.Disk.RemoveAsync"/>) and loses the write cache; the backing memory, bad blocks and zone
    /// states stay for the next <see cref="PowerOn"/>. Nothing happens if it is off already.
    /// </summary>
    /// <returns>A task that completes when the disk is gone.</returns>
    public async ValueTask PowerOffAsync()
    {
        Disk? disk;
        lock (_powerLock)
        {
            disk = _disk;
            Volatile.Write(ref _disk, null);
        }

        if (disk is null)
        {
            return;
        }

        await disk.RemoveAsync().ConfigureAwait(false);
        Cache?.Drop();
        _powerChanged(this);
    }

    /// <summary>Marks the device removed: it can no longer be powered on.</summary>
    internal void MarkRemoved()
    {
        lock (_powerLock)
        {
            _removed = true;
        }
    }

    /// <summary>What the disk looks like to the block layer for these parameters.</summary>
    internal DiskOptions CreateDiskOptions()
    {
        NullBlockOptions options = Options;
        bool memory = Store is not null;
        bool zoned = Zones is not null;

        // As null_blk, discard is ignored on a zoned disk; unlike null_blk it is accepted without memory (a no-op).
        bool discard = options.Discard && !zoned;
        return new DiskOptions
        {
            Name = Name,
            Capacity = options.Size,
            Rotational = options.Rotational,
            WriteCache = Cache is not null,
            Fua = options.Fua,
            ReadsFillBuffers = Store is not null,
            Allocation = this,
            Zones = zoned ? this : null,
            Limits = new QueueLimits
            {
                LogicalBlockSize = options.BlockSize,
                PhysicalBlockSize = options.BlockSize,
                MaxSectors = MaxSectors,
                MaxDiscardSectors = discard ? uint.MaxValue >> 9 : 0,
                DiscardGranularity = discard ? Math.Max(options.BlockSize, memory ? MemoryStore.PageSize : options.BlockSize) : 0,

                // A zoned disk gets zero buffers instead, which follow the write pointer rules.
                MaxWriteZeroesSectors = memory && !zoned ? uint.MaxValue >> 9 : 0,
                VirtBoundaryMask = options.VirtBoundary ? MemoryStore.PageSize - 1 : 0,
                ZoneSectors = zoned ? (int)Zones!.ZoneSectors : 0,
                MaxZoneAppendSectors = Zones?.MaxZoneAppendSectors ?? 0,
                MaxOpenZones = Zones?.MaxOpen ?? 0,
                MaxActiveZones = Zones?.MaxActive ?? 0,
            },
        };
    }

    /// <summary>
    /// Everything a request meets before it completes, when any feature is on (<c>null_queue_rq</c> and
    /// <c>null_handle_cmd</c>): fault injection, the bandwidth limit, flush, zones, bad blocks and memory.
    /// Returns the status to complete the request with, <see cref="BlockStatus.Busy"/> to have it requeued, or
    /// <see cref="Dropped"/> when a timeout fault swallows it.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    internal BlockStatus Handle(Request<NullRequest> request)
    {
        // Decided before the requeue fault, as null_blk does, so both counters advance on every dispatch.
        bool fakeTimeout = TimeoutFault?.ShouldFail() ?? false;
        if (RequeueFault?.ShouldFail() ?? false)
        {
            return BlockStatus.Busy;
        }

        if (fakeTimeout)
        {
            return Dropped;
        }

        if (Throttle is not null && !Throttle.TryTake(request.Length))
        {
            return BlockStatus.Busy;
        }

        RequestOp op = request.Op;
        if (op == RequestOp.Flush)
        {
            Cache?.Flush();
            return BlockStatus.Ok;
        }

        long sector = request.Sector;
        long sectors = request.SectorCount;
        if (Zones is not null)
        {
            return Zones.Process(request, op, sector, sectors);
        }

        if (op >= RequestOp.ZoneAppend)
        {
            return BlockStatus.NotSupported;
        }

        return ProcessCommand(request, op, sector, ref sectors);
    }

    /// <summary>
    /// Bad blocks, then memory (<c>null_process_cmd</c>). On a bad block the request fails with
    /// <see cref="BlockStatus.IoError"/> and <paramref name="sectors"/> becomes what was transferred anyway
    /// (0 unless <c>badblocks_partial_io</c>).
    /// </summary>
    internal BlockStatus ProcessCommand(Request<NullRequest> request, RequestOp op, long sector, ref long sectors)
    {
        BlockStatus status = BlockStatus.Ok;
        if (!BadBlocks.IsEmpty)
        {
            status = HandleBadBlocks(sector, ref sectors);
        }

        if (Store is not null && sectors > 0)
        {
            Transfer(request, op, sector << 9, sectors << 9);
        }

        return status;
    }

    /// <summary>Drops the data of a zone that was reset or changed condition.</summary>
    internal void DiscardZoneData(long sector, long sectors)
    {
        if (Store is not null)
        {
            ZeroData(sector << 9, sectors << 9, deallocate: true);
        }
    }

    private NullZones ZonesOrThrow() =>
        Zones ?? throw new InvalidOperationException($"Device '{Name}' is not zoned.");

    private void RecomputeFeatures() => Volatile.Write(ref _hasFeatures, _hasStaticFeatures || !BadBlocks.IsEmpty);

    // null_handle_badblocks: badblocks_once clears the range hit; partial IO keeps the whole blocks before it.
    private BlockStatus HandleBadBlocks(long sector, ref long sectors)
    {
        if (!BadBlocks.Check(sector, sectors, out long firstBad, out long badCount))
        {
            return BlockStatus.Ok;
        }

        if (Options.BadBlocksOnce)
        {
            BadBlocks.Remove(firstBad, badCount);
        }

        long partial = 0;
        if (Options.BadBlocksPartialIO)
        {
            long blockSectors = Options.BlockSize >> 9;
            firstBad -= firstBad % blockSectors;
            if (sector < firstBad)
            {
                partial = firstBad - sector;
            }
        }

        sectors = partial;
        return BlockStatus.IoError;
    }

    private void Transfer(Request<NullRequest> request, RequestOp op, long offset, long bytes)
    {
        switch (op)
        {
            case RequestOp.Read:
                foreach (Memory<byte> segment in request.Segments)
                {
                    int count = (int)Math.Min(segment.Length, bytes);
                    ReadData(offset, segment.Span[..count]);
                    offset += count;
                    bytes -= count;
                    if (bytes == 0)
                    {
                        break;
                    }
                }

                break;
            case RequestOp.Write or RequestOp.ZoneAppend:
                bool fua = _fuaWrites && (request.Flags & RequestFlags.Fua) != 0;
                foreach (Memory<byte> segment in request.Segments)
                {
                    int count = (int)Math.Min(segment.Length, bytes);
                    WriteData(offset, segment.Span[..count], fua);
                    offset += count;
                    bytes -= count;
                    if (bytes == 0)
                    {
                        break;
                    }
                }

                break;
            case RequestOp.Discard:
                ZeroData(offset, bytes, deallocate: true);
                break;
            case RequestOp.WriteZeroes:
                ZeroData(offset, bytes, deallocate: (request.Flags & RequestFlags.NoUnmap) == 0);
                break;
            default:
                break;
        }
    }

    private void ReadData(long offset, Span<byte> destination)
    {
        while (!destination.IsEmpty)
        {
            // On a zoned disk, what lies past a zone's write pointer reads as null_blk's 0xFF pattern.
            long valid = destination.Length;
            long chunk = destination.Length;
            if (Zones is not null)
            {
                valid = Zones.ValidReadBytes(offset, destination.Length, out chunk);
            }

            Span<byte> data = destination[..(int)valid];
            if (Cache is not null)
            {
                Cache.Read(offset, data);
            }
            else
            {
                Store!.Read(offset, data);
            }

            destination[(int)valid..(int)chunk].Fill(0xFF);
            offset += chunk;
            destination = destination[(int)chunk..];
        }
    }

    private void WriteData(long offset, ReadOnlySpan<byte> source, bool fua)
    {
        if (Cache is not null)
        {
            Cache.Write(offset, source, fua);
        }
        else
        {
            Store!.Write(offset, source);
        }
    }

    private void ZeroData(long offset, long length, bool deallocate)
    {
        if (Cache is not null)
        {
            Cache.Zero(offset, length, deallocate);
        }
        else
        {
            Store!.Zero(offset, length, deallocate);
        }
    }
}
