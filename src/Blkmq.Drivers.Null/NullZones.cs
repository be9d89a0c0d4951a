using System.Numerics;
using System.Runtime.InteropServices;

namespace Blkmq.Drivers.Null;

/// <summary>
/// The zones of a zoned null disk (null_blk's <c>zoned.c</c>): conventional zones first, then sequential write
/// required zones with write pointers and the ZBC / ZNS state machine (empty, implicitly or explicitly open,
/// closed, full, read-only, offline), open and active zone limits with implicit close, zone append, and zone
/// management (open, close, finish, reset, reset all), with null_blk's rules.
/// </summary>
/// <remarks>
/// <para>
/// Sectors are 512-byte units. Without open or active limits each zone is guarded by a lock of a small striped
/// set (null_blk's per-zone lock), held while a write checks the write pointer, moves the data and advances it.
/// With limits, one lock guards every zone and the resource counts, because making room may implicitly close
/// another zone (null_blk's <c>zone_res_lock</c>).
/// </para>
/// <para>
/// Status mapping: a broken zone rule (a write not at the write pointer or past the capacity, an append to a
/// conventional zone, an operation the zone's state forbids, no open or active zone left) is
/// <see cref="BlockStatus.ZoneError"/>; IO to an offline zone is <see cref="BlockStatus.IoError"/>; a write or
/// zone operation on a read-only zone is <see cref="BlockStatus.ReadOnly"/>. (null_blk answers most of these
/// with <c>BLK_STS_IOERR</c>.)
/// </para>
/// </remarks>
internal sealed class NullZones
{
    /// <summary>The write pointer of a read-only or offline zone (null_blk's <c>NULL_ZONE_INVALID_WP</c>).</summary>
    public const long InvalidWritePointer = -1;

    private const int LockStripes = 64;

    private readonly NullDevice _device;
    private readonly Zone[] _zones;
    private readonly Lock[]? _stripes;
    private readonly Lock _resourceLock = new();
    private readonly int _zoneShift;
    private int _implicitOpen;
    private int _explicitOpen;
    private int _closed;
    private int _closeCursor;

    public NullZones(NullDevice device, NullBlockOptions options, int maxSectors)
    {
        _device = device;
        long capacitySectors = options.Size >> 9;
        ZoneSectors = options.ZoneSize >> 9;
        _zoneShift = BitOperations.Log2((ulong)ZoneSectors);
        long zoneCapacity = (options.ZoneCapacity == 0 ? options.ZoneSize : options.ZoneCapacity) >> 9;
        int count = checked((int)((capacitySectors + ZoneSectors - 1) >> _zoneShift));
        int blockSectors = options.BlockSize >> 9;

        // null_blk's adjustments: keep one sequential zone, and drop limits that cannot be reached.
        ConventionalCount = Math.Min(options.ConventionalZones, count - 1);
        int sequential = count - ConventionalCount;
        MaxActive = options.MaxActiveZones >= sequential ? 0 : options.MaxActiveZones;
        MaxOpen = MaxActive != 0 && options.MaxOpenZones > MaxActive ? MaxActive
            : options.MaxOpenZones >= sequential ? 0 : options.MaxOpenZones;
        MaxZoneAppendSectors = (int)Math.Min(Math.Min(options.MaxZoneAppendSectors / blockSectors * blockSectors, zoneCapacity), maxSectors);
        _closeCursor = ConventionalCount;
        _stripes = MaxOpen != 0 || MaxActive != 0 ? null : new Lock[Math.Min(count, LockStripes)];
        for (int i = 0; _stripes is not null && i < _stripes.Length; i++)
        {
            _stripes[i] = new Lock();
        }

        _zones = new Zone[count];
        for (int i = 0; i < count; i++)
        {
            long start = (long)i << _zoneShift;
            ref Zone zone = ref _zones[i];
            zone.Start = start;
            zone.Length = Math.Min(ZoneSectors, capacitySectors - start);
            if (i < ConventionalCount)
            {
                zone.Capacity = zone.Length;
                zone.WritePointer = start + zone.Length;
                zone.Type = ZoneType.Conventional;
                zone.Condition = ZoneCondition.NotWritePointer;
            }
            else
            {
                zone.Capacity = Math.Min(zone.Length, zoneCapacity);
                zone.Type = ZoneType.SequentialWriteRequired;
                zone.Condition = options.ZoneFull ? ZoneCondition.Full : ZoneCondition.Empty;
                zone.WritePointer = options.ZoneFull ? start + zone.Capacity : start;
            }
        }
    }

    public long ZoneSectors { get; }

    public int ZoneCount => _zones.Length;

    public int ConventionalCount { get; }

    public int MaxOpen { get; }

    public int MaxActive { get; }

    public int MaxZoneAppendSectors { get; }

    private bool NeedResourceManagement => _stripes is null;

    public int ReportZones(long offset, Span<BlockZone> zones)
    {
        long first = (offset >> 9) >> _zoneShift;
        int filled = 0;
        for (long i = first; i < _zones.Length && filled < zones.Length; i++)
        {
            int index = (int)i;
            lock (LockOf(index))
            {
                ref Zone zone = ref _zones[index];
                zones[filled++] = new BlockZone(
                    zone.Start << 9,
                    zone.Length << 9,
                    zone.Capacity << 9,
                    zone.WritePointer == InvalidWritePointer ? -1 : zone.WritePointer << 9,
                    zone.Type,
                    zone.Condition);
            }
        }

        return filled;
    }

    /// <summary>Runs one request on the zones (<c>null_process_zoned_cmd</c>); flush is handled before.</summary>
    public BlockStatus Process(Request<NullRequest> request, RequestOp op, long sector, long sectors)
    {
        switch (op)
        {
            case RequestOp.Write:
                return Write(request, sector, sectors, append: false);
            case RequestOp.ZoneAppend:
                return Write(request, sector, sectors, append: true);
            case RequestOp.ZoneOpen or RequestOp.ZoneClose or RequestOp.ZoneFinish or RequestOp.ZoneReset or RequestOp.ZoneResetAll:
                return Manage(op, sector);
            case RequestOp.Read:
                for (long zone = sector >> _zoneShift; zone <= (sector + Math.Max(sectors, 1) - 1) >> _zoneShift && zone < _zones.Length; zone++)
                {
                    // Read without the zone's lock, as null_blk: a zone taken offline during the read may still be read.
                    if (_zones[zone].Condition == ZoneCondition.Offline)
                    {
                        return BlockStatus.IoError;
                    }
                }

                return _device.ProcessCommand(request, op, sector, ref sectors);
            default:
                // Discard and write-zeroes are not advertised on a zoned disk (null_blk ignores discard in zoned mode).
                return BlockStatus.NotSupported;
        }
    }

    /// <summary>
    /// How many bytes from <paramref name="offset"/> (at most <paramref name="length"/>, and never past the end of
    /// its zone: <paramref name="chunk"/>) lie below the zone's write pointer and read back data; the rest of the
    /// chunk reads as the 0xFF pattern (<c>null_zone_valid_read_len</c>).
    /// </summary>
    public long ValidReadBytes(long offset, long length, out long chunk)
    {
        int index = (int)((offset >> 9) >> _zoneShift);
        long zoneEnd = ((long)index + 1) << _zoneShift << 9;
        chunk = Math.Min(length, zoneEnd - offset);
        lock (LockOf(index))
        {
            ref Zone zone = ref _zones[index];
            if (zone.Type == ZoneType.Conventional || zone.WritePointer == InvalidWritePointer)
            {
                return chunk;
            }

            return Math.Clamp((zone.WritePointer << 9) - offset, 0, chunk);
        }
    }

    /// <summary>
    /// Puts a sequential zone in the read-only or offline condition, or, when it already is in that condition,
    /// back to empty (null_blk's <c>zone_readonly</c> and <c>zone_offline</c> attributes).
    /// </summary>
    public void SetCondition(long offset, ZoneCondition condition)
    {
        int index = (int)((offset >> 9) >> _zoneShift);
        if (offset < 0 || index >= _zones.Length)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), offset, "The offset is beyond the last zone.");
        }

        lock (LockOf(index))
        {
            ref Zone zone = ref _zones[index];
            if (zone.Type == ZoneType.Conventional)
            {
                throw new ArgumentException("The condition of a conventional zone cannot be changed.", nameof(offset));
            }

            if (zone.Condition == condition)
            {
                zone.Condition = ZoneCondition.Empty;
                zone.WritePointer = zone.Start;
                _device.DiscardZoneData(zone.Start, zone.Length);
                return;
            }

            if (NeedResourceManagement)
            {
                // The zone gives back its open and active resources (null_blk finishes it first).
                ReleaseOpen(ref zone);
                if (zone.Condition == ZoneCondition.Closed)
                {
                    _closed--;
                }
            }

            zone.Condition = condition;
            zone.WritePointer = InvalidWritePointer;
        }
    }

    /// <summary>Gets the zone's lock: a stripe, or the resource lock when limits are managed.</summary>
    private Lock LockOf(int index) => _stripes is null ? _resourceLock : _stripes[index % _stripes.Length];

    private BlockStatus Write(Request<NullRequest> request, long sector, long sectors, bool append)
    {
        int index = (int)(sector >> _zoneShift);
        ref Zone zone = ref _zones[index];
        if (zone.Type == ZoneType.Conventional)
        {
            // A write may run from one conventional zone into the next; into a sequential one it breaks its rules.
            if (append || ((sector + sectors - 1) >> _zoneShift) >= ConventionalCount)
            {
                return BlockStatus.ZoneError;
            }

            return _device.ProcessCommand(request, RequestOp.Write, sector, ref sectors);
        }

        lock (LockOf(index))
        {
            switch (zone.Condition)
            {
                case ZoneCondition.Offline:
                    return BlockStatus.IoError;
                case ZoneCondition.ReadOnly:
                    return BlockStatus.ReadOnly;
                default:
                    break;
            }

            if (append)
            {
                if (MaxZoneAppendSectors == 0)
                {
                    return BlockStatus.NotSupported;
                }

                sector = zone.WritePointer;
                request.SetResultSector(sector);
            }

            // Also fails a full zone: its write pointer is at or past its capacity.
            if (sector != zone.WritePointer || zone.WritePointer + sectors > zone.Start + zone.Capacity)
            {
                return BlockStatus.ZoneError;
            }

            if (zone.Condition is ZoneCondition.Closed or ZoneCondition.Empty)
            {
                if (NeedResourceManagement)
                {
                    BlockStatus resources = CheckZoneResources(ref zone);
                    if (resources != BlockStatus.Ok)
                    {
                        return resources;
                    }

                    if (zone.Condition == ZoneCondition.Closed)
                    {
                        _closed--;
                    }

                    _implicitOpen++;
                }

                zone.Condition = ZoneCondition.ImplicitOpen;
            }

            BlockStatus status = _device.ProcessCommand(request, RequestOp.Write, sector, ref sectors);
            if (status != BlockStatus.Ok && sectors == 0)
            {
                return status;
            }

            // A partial write (a bad block with badblocks_partial_io) advances the pointer by what was written.
            zone.WritePointer += sectors;
            if (zone.WritePointer == zone.Start + zone.Capacity)
            {
                if (NeedResourceManagement)
                {
                    ReleaseOpen(ref zone);
                }

                zone.Condition = ZoneCondition.Full;
            }

            return status;
        }
    }

    private BlockStatus Manage(RequestOp op, long sector)
    {
        if (op == RequestOp.ZoneResetAll)
        {
            for (int i = ConventionalCount; i < _zones.Length; i++)
            {
                lock (LockOf(i))
                {
                    ref Zone each = ref _zones[i];
                    if (each.Condition is not (ZoneCondition.Empty or ZoneCondition.ReadOnly or ZoneCondition.Offline))
                    {
                        Reset(ref each);
                    }
                }
            }

            return BlockStatus.Ok;
        }

        int index = (int)(sector >> _zoneShift);
        lock (LockOf(index))
        {
            ref Zone zone = ref _zones[index];
            switch (zone.Condition)
            {
                case ZoneCondition.Offline:
                    return BlockStatus.IoError;
                case ZoneCondition.ReadOnly:
                    return BlockStatus.ReadOnly;
                default:
                    break;
            }

            return op switch
            {
                RequestOp.ZoneReset => Reset(ref zone),
                RequestOp.ZoneOpen => Open(ref zone),
                RequestOp.ZoneClose => Close(ref zone),
                RequestOp.ZoneFinish => Finish(ref zone),
                _ => BlockStatus.NotSupported,
            };
        }
    }

    private BlockStatus Open(ref Zone zone)
    {
        if (zone.Type == ZoneType.Conventional)
        {
            return BlockStatus.ZoneError;
        }

        switch (zone.Condition)
        {
            case ZoneCondition.ExplicitOpen:
                return BlockStatus.Ok;
            case ZoneCondition.Empty or ZoneCondition.ImplicitOpen or ZoneCondition.Closed:
                break;
            default:
                return BlockStatus.ZoneError;
        }

        if (NeedResourceManagement)
        {
            switch (zone.Condition)
            {
                case ZoneCondition.Empty:
                    BlockStatus status = CheckZoneResources(ref zone);
                    if (status != BlockStatus.Ok)
                    {
                        return status;
                    }

                    break;
                case ZoneCondition.ImplicitOpen:
                    _implicitOpen--;
                    break;
                default:
                    BlockStatus closed = CheckZoneResources(ref zone);
                    if (closed != BlockStatus.Ok)
                    {
                        return closed;
                    }

                    _closed--;
                    break;
            }

            _explicitOpen++;
        }

        zone.Condition = ZoneCondition.ExplicitOpen;
        return BlockStatus.Ok;
    }

    private BlockStatus Close(ref Zone zone)
    {
        if (zone.Type == ZoneType.Conventional)
        {
            return BlockStatus.ZoneError;
        }

        switch (zone.Condition)
        {
            case ZoneCondition.Closed:
                return BlockStatus.Ok;
            case ZoneCondition.ImplicitOpen or ZoneCondition.ExplicitOpen:
                break;
            default:
                return BlockStatus.ZoneError;
        }

        if (NeedResourceManagement)
        {
            ReleaseOpen(ref zone);
            if (zone.WritePointer > zone.Start)
            {
                _closed++;
            }
        }

        zone.Condition = zone.WritePointer == zone.Start ? ZoneCondition.Empty : ZoneCondition.Closed;
        return BlockStatus.Ok;
    }

    private BlockStatus Finish(ref Zone zone)
    {
        if (zone.Type == ZoneType.Conventional)
        {
            return BlockStatus.ZoneError;
        }

        if (NeedResourceManagement)
        {
            switch (zone.Condition)
            {
                case ZoneCondition.Full:
                    return BlockStatus.Ok;
                case ZoneCondition.Empty or ZoneCondition.Closed:
                    BlockStatus status = CheckZoneResources(ref zone);
                    if (status != BlockStatus.Ok)
                    {
                        return status;
                    }

                    if (zone.Condition == ZoneCondition.Closed)
                    {
                        _closed--;
                    }

                    break;
                case ZoneCondition.ImplicitOpen or ZoneCondition.ExplicitOpen:
                    ReleaseOpen(ref zone);
                    break;
                default:
                    return BlockStatus.ZoneError;
            }
        }

        zone.Condition = ZoneCondition.Full;
        zone.WritePointer = zone.Start + zone.Length;
        return BlockStatus.Ok;
    }

    private BlockStatus Reset(ref Zone zone)
    {
        if (zone.Type == ZoneType.Conventional)
        {
            return BlockStatus.ZoneError;
        }

        if (NeedResourceManagement)
        {
            switch (zone.Condition)
            {
                case ZoneCondition.ImplicitOpen or ZoneCondition.ExplicitOpen:
                    ReleaseOpen(ref zone);
                    break;
                case ZoneCondition.Closed:
                    _closed--;
                    break;
                case ZoneCondition.Empty or ZoneCondition.Full:
                    break;
                default:
                    return BlockStatus.ZoneError;
            }
        }

        zone.Condition = ZoneCondition.Empty;
        zone.WritePointer = zone.Start;
        _device.DiscardZoneData(zone.Start, zone.Length);
        return BlockStatus.Ok;
    }

    private void ReleaseOpen(ref Zone zone)
    {
        if (zone.Condition == ZoneCondition.ExplicitOpen)
        {
            _explicitOpen--;
        }
        else if (zone.Condition == ZoneCondition.ImplicitOpen)
        {
            _implicitOpen--;
        }
    }

    // ZBC's "manage open zone resources" with ZNS's active limit (null_check_zone_resources): may implicitly
    // close an implicitly open zone to make room for this one.
    private BlockStatus CheckZoneResources(ref Zone zone)
    {
        if (zone.Condition == ZoneCondition.Empty && !HasActiveRoom())
        {
            return BlockStatus.ZoneError;
        }

        if (MaxOpen == 0 || _explicitOpen + _implicitOpen < MaxOpen)
        {
            return BlockStatus.Ok;
        }

        if (_implicitOpen > 0 && HasActiveRoom())
        {
            CloseImplicitOpenZone();
            return BlockStatus.Ok;
        }

        return BlockStatus.ZoneError;
    }

    private bool HasActiveRoom() => MaxActive == 0 || _explicitOpen + _implicitOpen + _closed < MaxActive;

    private void CloseImplicitOpenZone()
    {
        int index = _closeCursor >= _zones.Length ? ConventionalCount : _closeCursor;
        for (int i = ConventionalCount; i < _zones.Length; i++)
        {
            ref Zone zone = ref _zones[index];
            index = index + 1 >= _zones.Length ? ConventionalCount : index + 1;
            if (zone.Condition == ZoneCondition.ImplicitOpen)
            {
                _implicitOpen--;
                if (zone.WritePointer == zone.Start)
                {
                    zone.Condition = ZoneCondition.Empty;
                }
                else
                {
                    zone.Condition = ZoneCondition.Closed;
                    _closed++;
                }

                _closeCursor = index;
                return;
            }
        }
    }

    [StructLayout(LayoutKind.Auto)]
    private struct Zone
    {
        public long Start;
        public long Length;
        public long Capacity;
        public long WritePointer;
        public ZoneType Type;
        public ZoneCondition Condition;
    }
}
