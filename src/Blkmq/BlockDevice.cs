using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Blkmq.Frontend;

namespace Blkmq;

/// <summary>
/// The in-process block device API: byte offsets and buffers in, requests out. Checks every IO against the
/// disk's geometry and limits before anything is submitted, splits IO larger than a request may be, and
/// completes without a <see cref="Task"/> or any other allocation per IO in steady state (the returned
/// <see cref="ValueTask"/> is backed by the request's own pooled completion source).
/// </summary>
/// <remarks>
/// <para>
/// Await every returned <see cref="ValueTask"/> exactly once: the request's tag stays allocated until its
/// result has been read. A failed IO throws <see cref="BlockIOException"/> carrying the
/// <see cref="BlockStatus"/>; invalid arguments throw before submission. The <c>…StatusAsync</c> methods are the
/// non-throwing form front ends use: a failed IO, and an invalid range, cost a <see cref="BlockStatus"/>, not an
/// exception, with the same zero allocations in steady state.
/// </para>
/// <para>
/// Writes of whole blocks hold their range shared in the disk's range lock while in flight, and byte-granular writes
/// of partial blocks hold theirs exclusive (<see cref="RangeLock"/>): a read-modify-write never undoes a concurrent
/// aligned write, from whichever front end.
/// </para>
/// </remarks>
public sealed partial class BlockDevice
{
    private const int ZeroBufferSize = 1 << 20;
    private static byte[]? s_zeroes;

    private readonly Disk _disk;
    private readonly int _blockMask;

    internal BlockDevice(Disk disk)
    {
        _disk = disk;
        _blockMask = disk.Limits.LogicalBlockSize - 1;
    }

    /// <summary>Gets the disk behind the device.</summary>
    public Disk Disk => _disk;

    /// <summary>Gets the size in bytes.</summary>
    public long Size => _disk.Capacity;

    /// <summary>Gets the logical block size: offsets and lengths must be multiples of it.</summary>
    public int LogicalBlockSize => _disk.Limits.LogicalBlockSize;

    /// <summary>Gets the physical block size.</summary>
    public int PhysicalBlockSize => _disk.Limits.EffectivePhysicalBlockSize;

    /// <summary>Reads <paramref name="buffer"/>.Length bytes at <paramref name="offset"/>.</summary>
    /// <param name="offset">The byte offset, a multiple of the logical block size.</param>
    /// <param name="buffer">Where the data goes; its length is a multiple of the logical block size. Owned by the IO until it completes.</param>
    /// <param name="flags">Request modifiers, such as <see cref="RequestFlags.Polled"/>.</param>
    /// <returns>A task that completes when the data is in <paramref name="buffer"/>.</returns>
    /// <exception cref="ArgumentException">The range is negative, misaligned or beyond the end.</exception>
    public ValueTask ReadAsync(long offset, Memory<byte> buffer, RequestFlags flags = RequestFlags.None) =>
        Submit(RequestOp.Read, flags, offset, buffer.Length, buffer);

    /// <summary>Writes <paramref name="data"/> at <paramref name="offset"/>.</summary>
    /// <param name="offset">The byte offset, a multiple of the logical block size.</param>
    /// <param name="data">The data; its length is a multiple of the logical block size. Must not change until the IO completes.</param>
    /// <param name="flags">Request modifiers: <see cref="RequestFlags.Fua"/> makes the write durable when it completes.</param>
    /// <returns>A task that completes when the device has the data.</returns>
    /// <exception cref="ArgumentException">The range is negative, misaligned or beyond the end.</exception>
    public ValueTask WriteAsync(long offset, ReadOnlyMemory<byte> data, RequestFlags flags = RequestFlags.None)
    {
        Validate(offset, data.Length);
        if ((flags & RequestFlags.Fua) != 0 && _disk.HasWriteCache && !_disk.SupportsFua)
        {
            return WriteThenFlushAsync(offset, data, flags & ~RequestFlags.Fua);
        }

        return SubmitWrite(RequestOp.Write, flags, offset, data.Length, MemoryMarshal.AsMemory(data)).AsTask(RequestOp.Write, offset, data.Length);
    }

    /// <summary>Makes every completed write durable. Completes at once on a disk without a write cache.</summary>
    /// <returns>A task that completes when the flush is done.</returns>
    public ValueTask FlushAsync()
    {
        if (!_disk.HasWriteCache)
        {
            return _disk.IsRemoved ? ValueTask.FromException(BlockIOException.Create(BlockStatus.Offline, RequestOp.Flush, 0, 0)) : default;
        }

        return _disk.SubmitRequest(RequestOp.Flush, RequestFlags.None, 0, 0, default, null, 0).AsTask(RequestOp.Flush, 0, 0);
    }

    /// <summary>Tells the device a range's contents are no longer needed; reads of it may then return zeroes.</summary>
    /// <param name="offset">The byte offset, a multiple of the logical block size.</param>
    /// <param name="length">The length in bytes, a multiple of the logical block size.</param>
    /// <returns>A task that completes when the discard is done.</returns>
    /// <exception cref="ArgumentException">The range is negative, misaligned or beyond the end.</exception>
    public ValueTask DiscardAsync(long offset, long length)
    {
        Validate(offset, length);
        if (!_disk.SupportsDiscard)
        {
            return ValueTask.FromException(BlockIOException.Create(BlockStatus.NotSupported, RequestOp.Discard, offset, length));
        }

        return SubmitWrite(RequestOp.Discard, RequestFlags.None, offset, length, default).AsTask(RequestOp.Discard, offset, length);
    }

    /// <summary>Writes zeroes over a range, with the driver's write-zeroes if it has one, else with zero buffers.</summary>
    /// <param name="offset">The byte offset, a multiple of the logical block size.</param>
    /// <param name="length">The length in bytes, a multiple of the logical block size.</param>
    /// <param name="mayUnmap">Whether the device may deallocate the range instead of writing zeroes.</param>
    /// <param name="noFallback">
    /// Fail with <see cref="BlockStatus.NotSupported"/> where zeroing would be no faster than writing zero buffers
    /// (<see cref="RequestFlags.NoFallback"/>, NBD's <c>FAST_ZERO</c>, the kernel's <c>BLKDEV_ZERO_NOFALLBACK</c>).
    /// </param>
    /// <returns>A task that completes when the range reads as zeroes.</returns>
    /// <exception cref="ArgumentException">The range is negative, misaligned or beyond the end.</exception>
    public ValueTask WriteZeroesAsync(long offset, long length, bool mayUnmap = true, bool noFallback = false)
    {
        Validate(offset, length);
        return SubmitWrite(RequestOp.WriteZeroes, ZeroFlags(mayUnmap, noFallback), offset, length, default).AsTask(RequestOp.WriteZeroes, offset, length);
    }

    /// <summary>Reads <paramref name="buffer"/>.Length bytes at <paramref name="offset"/>, returning a failure as a status.</summary>
    /// <param name="offset">The byte offset, a multiple of the logical block size.</param>
    /// <param name="buffer">Where the data goes; its length is a multiple of the logical block size. Owned by the IO until it completes.</param>
    /// <param name="flags">Request modifiers, such as <see cref="RequestFlags.Polled"/>.</param>
    /// <returns>
    /// The IO's status: <see cref="BlockStatus.Ok"/> when the data is in <paramref name="buffer"/>,
    /// <see cref="BlockStatus.Invalid"/> for a range that is negative, misaligned or beyond the end. Never throws for
    /// a failed IO; await it exactly once. A disk that does not fill read buffers (<see cref="Disk.ReadsFillBuffers"/>)
    /// leaves <paramref name="buffer"/> as it was.
    /// </returns>
    public ValueTask<BlockStatus> ReadStatusAsync(long offset, Memory<byte> buffer, RequestFlags flags = RequestFlags.None)
    {
        if (!IsValidRange(offset, buffer.Length))
        {
            return new ValueTask<BlockStatus>(BlockStatus.Invalid);
        }

        return buffer.IsEmpty ? new ValueTask<BlockStatus>(BlockStatus.Ok) : SubmitUnheld(RequestOp.Read, flags, offset, buffer.Length, buffer).AsStatusTask();
    }

    /// <summary>Writes <paramref name="data"/> at <paramref name="offset"/>, returning a failure as a status.</summary>
    /// <param name="offset">The byte offset, a multiple of the logical block size.</param>
    /// <param name="data">The data; its length is a multiple of the logical block size. Must not change until the IO completes.</param>
    /// <param name="flags">Request modifiers: <see cref="RequestFlags.Fua"/> makes the write durable when it completes.</param>
    /// <returns>The IO's status (<see cref="BlockStatus.Invalid"/> for a bad range, <see cref="BlockStatus.ReadOnly"/> on a read-only disk); never throws for a failed IO.</returns>
    public ValueTask<BlockStatus> WriteStatusAsync(long offset, ReadOnlyMemory<byte> data, RequestFlags flags = RequestFlags.None)
    {
        if (!IsValidRange(offset, data.Length))
        {
            return new ValueTask<BlockStatus>(BlockStatus.Invalid);
        }

        if ((flags & RequestFlags.Fua) != 0 && _disk.HasWriteCache && !_disk.SupportsFua)
        {
            return WriteThenFlushStatusAsync(offset, data, flags & ~RequestFlags.Fua);
        }

        return SubmitWrite(RequestOp.Write, flags, offset, data.Length, MemoryMarshal.AsMemory(data)).AsStatusTask();
    }

    /// <summary>Makes every completed write durable, returning a failure as a status.</summary>
    /// <returns>The flush's status; <see cref="BlockStatus.Offline"/> once the disk was removed.</returns>
    public ValueTask<BlockStatus> FlushStatusAsync()
    {
        if (!_disk.HasWriteCache)
        {
            return new ValueTask<BlockStatus>(_disk.IsRemoved ? BlockStatus.Offline : BlockStatus.Ok);
        }

        return _disk.SubmitRequest(RequestOp.Flush, RequestFlags.None, 0, 0, default, null, 0).AsStatusTask();
    }

    /// <summary>Discards a range (see <see cref="DiscardAsync"/>), returning a failure as a status.</summary>
    /// <param name="offset">The byte offset, a multiple of the logical block size.</param>
    /// <param name="length">The length in bytes, a multiple of the logical block size.</param>
    /// <returns>The status; <see cref="BlockStatus.NotSupported"/> when the disk cannot discard, <see cref="BlockStatus.Invalid"/> for a bad range.</returns>
    public ValueTask<BlockStatus> DiscardStatusAsync(long offset, long length)
    {
        if (!IsValidRange(offset, length))
        {
            return new ValueTask<BlockStatus>(BlockStatus.Invalid);
        }

        if (!_disk.SupportsDiscard)
        {
            return new ValueTask<BlockStatus>(BlockStatus.NotSupported);
        }

        return SubmitWrite(RequestOp.Discard, RequestFlags.None, offset, length, default).AsStatusTask();
    }

    /// <summary>Writes zeroes over a range (see <see cref="WriteZeroesAsync"/>), returning a failure as a status.</summary>
    /// <param name="offset">The byte offset, a multiple of the logical block size.</param>
    /// <param name="length">The length in bytes, a multiple of the logical block size.</param>
    /// <param name="mayUnmap">Whether the device may deallocate the range instead of writing zeroes.</param>
    /// <param name="noFallback">Fail with <see cref="BlockStatus.NotSupported"/> rather than zero no faster than a write.</param>
    /// <returns>The status; <see cref="BlockStatus.Invalid"/> for a bad range.</returns>
    public ValueTask<BlockStatus> WriteZeroesStatusAsync(long offset, long length, bool mayUnmap = true, bool noFallback = false)
    {
        if (!IsValidRange(offset, length))
        {
            return new ValueTask<BlockStatus>(BlockStatus.Invalid);
        }

        return SubmitWrite(RequestOp.WriteZeroes, ZeroFlags(mayUnmap, noFallback), offset, length, default).AsStatusTask();
    }

    private static RequestFlags ZeroFlags(bool mayUnmap, bool noFallback) =>
        (mayUnmap ? RequestFlags.None : RequestFlags.NoUnmap) | (noFallback ? RequestFlags.NoFallback : RequestFlags.None);

    /// <summary>Polls the disk's poll queues once; polled IO completes only through this.</summary>
    /// <returns>How many requests completed.</returns>
    public int Poll() => _disk.Poll();

    /// <summary>Wraps the device in a seekable <see cref="Stream"/> that accepts any offset and length.</summary>
    /// <returns>A stream over the whole device.</returns>
    public Stream AsStream() => new BlockDeviceStream(this);

    /// <summary>Gets whether the disk is zoned: writes to its sequential zones must start at the zone's write pointer.</summary>
    public bool IsZoned => _disk.IsZoned;

    /// <summary>Gets the zone size in bytes (the last zone may be smaller); 0 when the disk is not zoned.</summary>
    public long ZoneSize => (long)_disk.Limits.ZoneSectors << 9;

    /// <summary>Gets the number of zones; 0 when the disk is not zoned.</summary>
    public int ZoneCount => _disk.Zones?.ZoneCount ?? 0;

    /// <summary>
    /// Describes the zones from the one that holds <paramref name="offset"/> on (<c>BLKREPORTZONE</c>), as many
    /// as fit in <paramref name="zones"/>. A snapshot: IO in flight may change a zone right after.
    /// </summary>
    /// <param name="offset">A byte offset inside the disk.</param>
    /// <param name="zones">Where the descriptions go.</param>
    /// <returns>How many zones were described; 0 when <paramref name="offset"/> is at or beyond the end.</returns>
    /// <exception cref="NotSupportedException">The disk is not zoned.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="offset"/> is negative.</exception>
    public int ReportZones(long offset, Span<BlockZone> zones)
    {
        IZonedDevice report = ZonedOrThrow();
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        return offset >= _disk.Capacity ? 0 : report.ReportZones(offset, zones);
    }

    /// <summary>Describes up to <paramref name="maxZones"/> zones from the one that holds <paramref name="offset"/> on.</summary>
    /// <param name="offset">A byte offset inside the disk; default the first zone.</param>
    /// <param name="maxZones">The most zones to describe; default all.</param>
    /// <returns>A new array of the zones.</returns>
    /// <exception cref="NotSupportedException">The disk is not zoned.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="offset"/> or <paramref name="maxZones"/> is negative.</exception>
    public BlockZone[] ReportZones(long offset = 0, int maxZones = int.MaxValue)
    {
        IZonedDevice report = ZonedOrThrow();
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(maxZones);
        long first = offset >> 9 >> System.Numerics.BitOperations.Log2((uint)_disk.Limits.ZoneSectors);
        int count = (int)Math.Clamp(report.ZoneCount - first, 0, maxZones);
        if (count == 0 || offset >= _disk.Capacity)
        {
            return [];
        }

        var zones = new BlockZone[count];
        int filled = report.ReportZones(offset, zones);
        return filled == count ? zones : zones[..filled];
    }

    /// <summary>
    /// Writes <paramref name="data"/> at the write pointer of the zone that starts at <paramref name="zoneOffset"/>
    /// (<c>REQ_OP_ZONE_APPEND</c>): concurrent appends to one zone need no ordering by the caller, and each learns
    /// where its data went. The append is never split; it must fit <see cref="QueueLimits.MaxZoneAppendSectors"/>.
    /// </summary>
    /// <param name="zoneOffset">The byte offset of the zone's start.</param>
    /// <param name="data">The data; its length is a positive multiple of the logical block size. Must not change until the IO completes.</param>
    /// <param name="flags">Request modifiers: <see cref="RequestFlags.Fua"/> makes the data durable when it completes.</param>
    /// <returns>The byte offset at which the data was written.</returns>
    /// <exception cref="ArgumentException">The offset is not a zone start, or the length is zero, misaligned or larger than an append may be.</exception>
    /// <exception cref="BlockIOException">The disk is not zoned or does not support zone append (<see cref="BlockStatus.NotSupported"/>), or the append failed.</exception>
    public ValueTask<long> ZoneAppendAsync(long zoneOffset, ReadOnlyMemory<byte> data, RequestFlags flags = RequestFlags.None)
    {
        Validate(zoneOffset, data.Length);
        QueueLimits limits = _disk.Limits;
        if (!limits.IsZoned || limits.MaxZoneAppendSectors == 0)
        {
            return ValueTask.FromException<long>(BlockIOException.Create(BlockStatus.NotSupported, RequestOp.ZoneAppend, zoneOffset, data.Length));
        }

        ValidateZoneStart(zoneOffset);
        if (data.IsEmpty || data.Length > (long)limits.MaxZoneAppendSectors << 9)
        {
            ThrowHelper.ThrowArgument($"A zone append must carry 1 to {(long)limits.MaxZoneAppendSectors << 9} bytes; it is never split.", nameof(data));
        }

        if (_disk.IsReadOnly)
        {
            return ValueTask.FromException<long>(BlockIOException.Create(BlockStatus.ReadOnly, RequestOp.ZoneAppend, zoneOffset, data.Length));
        }

        if (!_disk.HasWriteCache)
        {
            flags &= ~RequestFlags.Fua;
        }
        else if ((flags & RequestFlags.Fua) != 0 && !_disk.SupportsFua)
        {
            return AppendThenFlushAsync(zoneOffset, data, flags & ~RequestFlags.Fua);
        }

        var completion = ZoneAppendCompletion.Rent(zoneOffset, data.Length);
        completion.OnSubmitted(_disk.SubmitRequest(RequestOp.ZoneAppend, flags, zoneOffset >> 9, data.Length, MemoryMarshal.AsMemory(data), completion, completion.Cookie));
        return new ValueTask<long>(completion, completion.Version);
    }

    /// <summary>
    /// Opens, closes, finishes or resets the zone that starts at <paramref name="zoneOffset"/>, or resets every
    /// zone (<c>BLKOPENZONE</c>, <c>BLKCLOSEZONE</c>, <c>BLKFINISHZONE</c>, <c>BLKRESETZONE</c>).
    /// </summary>
    /// <param name="operation">
    /// <see cref="RequestOp.ZoneOpen"/>, <see cref="RequestOp.ZoneClose"/>, <see cref="RequestOp.ZoneFinish"/>,
    /// <see cref="RequestOp.ZoneReset"/> or <see cref="RequestOp.ZoneResetAll"/> (which ignores <paramref name="zoneOffset"/>).
    /// </param>
    /// <param name="zoneOffset">The byte offset of the zone's start.</param>
    /// <returns>A task that completes when the zone changed state.</returns>
    /// <exception cref="ArgumentException">The operation is not a zone operation, or the offset is not a zone start.</exception>
    /// <exception cref="BlockIOException">The disk is not zoned (<see cref="BlockStatus.NotSupported"/>), or the device refused (<see cref="BlockStatus.ZoneError"/> and others).</exception>
    public ValueTask ZoneManagementAsync(RequestOp operation, long zoneOffset = 0)
    {
        if (operation is not (RequestOp.ZoneOpen or RequestOp.ZoneClose or RequestOp.ZoneFinish or RequestOp.ZoneReset or RequestOp.ZoneResetAll))
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(operation), operation, "Not a zone management operation.");
        }

        if (operation == RequestOp.ZoneResetAll)
        {
            zoneOffset = 0;
        }
        else
        {
            Validate(zoneOffset, 0);
        }

        if (!_disk.IsZoned)
        {
            return ValueTask.FromException(BlockIOException.Create(BlockStatus.NotSupported, operation, zoneOffset, 0));
        }

        if (operation != RequestOp.ZoneResetAll)
        {
            ValidateZoneStart(zoneOffset);
            if (zoneOffset >= _disk.Capacity)
            {
                ThrowHelper.ThrowArgumentOutOfRange(nameof(zoneOffset), zoneOffset, "The zone offset is beyond the end of the disk.");
            }
        }

        if (_disk.IsReadOnly)
        {
            return ValueTask.FromException(BlockIOException.Create(BlockStatus.ReadOnly, operation, zoneOffset, 0));
        }

        return _disk.SubmitRequest(operation, RequestFlags.None, zoneOffset >> 9, 0, default, null, 0).AsTask(operation, zoneOffset, 0);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ValueTask Submit(RequestOp op, RequestFlags flags, long offset, long length, Memory<byte> data)
    {
        Validate(offset, length);
        return length == 0 ? default : SubmitUnheld(op, flags, offset, length, data).AsTask(op, offset, length);
    }

    /// <summary>
    /// Submits a validated write of whole blocks (write, write-zeroes, discard) under a shared hold of the disk's
    /// range lock for as long as it is in flight: a read-modify-write of a partial block of the same range waits for
    /// it, and none starts between its read and its write back (the disk's one range-lock policy, see <see cref="RangeLock"/>).
    /// </summary>
    /// <remarks>
    /// The usual hold is the request itself (an unrecorded write, which passes the disk's write gate at no cost);
    /// only while a partial write holds or wants a range, or when the write would have to wait for a tag, is the
    /// write recorded in the lock with its range.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Submission SubmitWrite(RequestOp op, RequestFlags flags, long offset, long length, Memory<byte> data)
    {
        if (length == 0)
        {
            return Submission.Done(BlockStatus.Ok);
        }

        if (_disk.IsReadOnly)
        {
            return Submission.Done(BlockStatus.ReadOnly);
        }

        Submission submission = SubmitUnheld(op, flags, offset, length, data, unrecorded: true);
        return submission.IsWriteGated ? Submission.Slow(SubmitWriteRecordedAsync(op, flags, offset, length, data)) : submission;
    }

    /// <summary>A write that holds its range recorded in the lock, waiting for any overlapping exclusive hold first.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<BlockStatus> SubmitWriteRecordedAsync(RequestOp op, RequestFlags flags, long offset, long length, Memory<byte> data)
    {
        using (await _disk.StreamLock.AcquireSharedAsync(offset, offset + length, CancellationToken.None).ConfigureAwait(false))
        {
            return await SubmitUnheld(op, flags, offset, length, data).AsStatusTask().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Submits a validated IO without taking the range lock: reads, writes whose caller holds the range, and
    /// (<paramref name="unrecorded"/>) one-request writes that pass the disk's write gate or come back write-gated.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Submission SubmitUnheld(RequestOp op, RequestFlags flags, long offset, long length, Memory<byte> data, bool unrecorded = false)
    {
        Disk disk = _disk;
        if (!disk.HasWriteCache)
        {
            flags &= ~RequestFlags.Fua;
        }

        long max = MaxRequestBytes(op);
        if (length <= max && (op != RequestOp.WriteZeroes || disk.SupportsWriteZeroes))
        {
            return disk.SubmitRequest(op, flags, offset >> 9, (int)length, data, null, 0, unrecorded);
        }

        // Several requests: an unrecorded write would pass the gate piece by piece, so it is recorded instead.
        if (unrecorded)
        {
            return Submission.WriteGated();
        }

        return op == RequestOp.WriteZeroes && !disk.SupportsWriteZeroes
            ? (flags & RequestFlags.NoFallback) != 0 ? Submission.Done(BlockStatus.NotSupported) : SubmitZeroBuffers(offset, length)
            : SubmitSplit(op, flags, offset, length, data, max);
    }

    /// <summary>Gets whether [<paramref name="offset"/>, <paramref name="offset"/> + <paramref name="length"/>) is whole blocks inside the disk.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool IsValidRange(long offset, long length) =>
        ((offset | length) & _blockMask) == 0 && offset >= 0 && length >= 0 && offset <= _disk.Capacity - length;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Validate(long offset, long length)
    {
        if (((offset | length) & _blockMask) != 0 || offset < 0 || length < 0 || offset > _disk.Capacity - length)
        {
            ThrowInvalidRange(offset, length);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowInvalidRange(long offset, long length)
    {
        if (offset < 0)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(offset), offset, "The offset must not be negative.");
        }

        if (length < 0)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(length), length, "The length must not be negative.");
        }

        if ((offset & _blockMask) != 0)
        {
            ThrowHelper.ThrowArgument($"The offset {offset} is not a multiple of the logical block size {LogicalBlockSize}.", nameof(offset));
        }

        if ((length & _blockMask) != 0)
        {
            ThrowHelper.ThrowArgument($"The length {length} is not a multiple of the logical block size {LogicalBlockSize}.", nameof(length));
        }

        ThrowHelper.ThrowArgumentOutOfRange(nameof(offset), offset, $"The range [{offset}, {offset + length}) is beyond the end of disk '{_disk.Name}' ({_disk.Capacity} bytes).");
    }

    private long MaxRequestBytes(RequestOp op) => _disk.MaxRequestBytes(op);

    private Submission SubmitSplit(RequestOp op, RequestFlags flags, long offset, long length, Memory<byte> data, long max)
    {
        SplitCompletion split = SplitCompletion.Rent();
        long done = 0;
        while (done < length)
        {
            int part = (int)Math.Min(max, length - done);
            Memory<byte> partData = data.IsEmpty ? default : data.Slice((int)done, part);
            split.AddPart();
            split.OnSubmitted(_disk.SubmitRequest(op, flags, (offset + done) >> 9, part, partData, split, 0));
            done += part;
        }

        split.Arrive();
        return Submission.Slow(new ValueTask<BlockStatus>(split, split.Version));
    }

    private IZonedDevice ZonedOrThrow()
    {
        IZonedDevice? zones = _disk.Zones;
        if (zones is null)
        {
            throw new NotSupportedException($"Disk '{_disk.Name}' is not zoned.");
        }

        return zones;
    }

    private void ValidateZoneStart(long zoneOffset)
    {
        if (((zoneOffset >> 9) & (_disk.Limits.ZoneSectors - 1)) != 0)
        {
            ThrowHelper.ThrowArgument($"The offset {zoneOffset} is not the start of a zone (zones are {ZoneSize} bytes).", nameof(zoneOffset));
        }
    }

    private async ValueTask<long> AppendThenFlushAsync(long zoneOffset, ReadOnlyMemory<byte> data, RequestFlags flags)
    {
        long written = await ZoneAppendAsync(zoneOffset, data, flags).ConfigureAwait(false);
        await FlushAsync().ConfigureAwait(false);
        return written;
    }

    private async ValueTask<BlockStatus> WriteThenFlushStatusAsync(long offset, ReadOnlyMemory<byte> data, RequestFlags flags)
    {
        BlockStatus status = await WriteStatusAsync(offset, data, flags).ConfigureAwait(false);
        return status != BlockStatus.Ok ? status : await FlushStatusAsync().ConfigureAwait(false);
    }

    private async ValueTask WriteThenFlushAsync(long offset, ReadOnlyMemory<byte> data, RequestFlags flags)
    {
        await WriteAsync(offset, data, flags).ConfigureAwait(false);
        await FlushAsync().ConfigureAwait(false);
    }

    /// <summary>Write-zeroes for a driver without it: writes of a shared zero buffer.</summary>
    private Submission SubmitZeroBuffers(long offset, long length)
    {
        byte[] zeroes = s_zeroes ??= new byte[ZeroBufferSize];
        long max = Math.Min(MaxRequestBytes(RequestOp.Write), ZeroBufferSize);
        SplitCompletion split = SplitCompletion.Rent();
        for (long done = 0; done < length;)
        {
            int part = (int)Math.Min(max, length - done);
            split.AddPart();
            split.OnSubmitted(_disk.SubmitRequest(RequestOp.Write, RequestFlags.None, (offset + done) >> 9, part, zeroes.AsMemory(0, part), split, 0));
            done += part;
        }

        split.Arrive();
        return Submission.Slow(new ValueTask<BlockStatus>(split, split.Version));
    }
}
