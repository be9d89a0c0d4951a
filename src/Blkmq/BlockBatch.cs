using System.Runtime.InteropServices;
using System.Threading.Tasks.Sources;

namespace Blkmq;

/// <summary>
/// A plug (Linux <c>blk_plug</c>): collects IO, then submits it as one batch. Adjacent reads or writes with the
/// same flags are merged into one request (up to the disk's max sectors and max segments), IO larger than a
/// request is split, and the batch is dispatched to the submitter's hardware queue in order with
/// <c>isLast</c> on the last request, so a driver can kick its device once per batch.
/// </summary>
/// <remarks>
/// Reusable: after <see cref="SubmitAsync"/> completed, read each IO's outcome with <see cref="GetStatus"/>,
/// then add the next batch (the first add after a submit starts a new batch). Not thread-safe; one batch per
/// submitter. Buffers must stay untouched until the submit completes.
/// </remarks>
public sealed class BlockBatch : IRequestCompletion, IValueTaskSource
{
    private readonly BlockDevice _device;
    private readonly List<Entry> _entries = [];
    private readonly List<PlannedRequest> _plan = [];
    private Memory<byte>[] _segments = new Memory<byte>[64];
    private BlockStatus[] _statuses = new BlockStatus[64];
    private ManualResetValueTaskSourceCore<bool> _core;
    private int _remaining;
    private bool _submitted;
    private bool _inFlight;

    /// <summary>Initializes a new instance of the <see cref="BlockBatch"/> class.</summary>
    /// <param name="device">The device the batch is for.</param>
    public BlockBatch(BlockDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        _device = device;
    }

    /// <summary>Gets the number of IOs in the batch.</summary>
    public int Count => _entries.Count;

    /// <summary>Gets how many requests the last submit dispatched, after merging and splitting.</summary>
    public int RequestCount { get; private set; }

    /// <summary>Adds a read of <paramref name="buffer"/>.Length bytes at <paramref name="offset"/>.</summary>
    /// <param name="offset">The byte offset, a multiple of the logical block size.</param>
    /// <param name="buffer">Where the data goes.</param>
    /// <returns>The IO's index in the batch.</returns>
    public int Read(long offset, Memory<byte> buffer) => Add(RequestOp.Read, RequestFlags.None, offset, buffer.Length, buffer);

    /// <summary>Adds a write of <paramref name="data"/> at <paramref name="offset"/>.</summary>
    /// <param name="offset">The byte offset, a multiple of the logical block size.</param>
    /// <param name="data">The data.</param>
    /// <param name="flags">Modifiers such as <see cref="RequestFlags.Fua"/>.</param>
    /// <returns>The IO's index in the batch.</returns>
    public int Write(long offset, ReadOnlyMemory<byte> data, RequestFlags flags = RequestFlags.None) =>
        Add(RequestOp.Write, flags & RequestFlags.Fua, offset, data.Length, MemoryMarshal.AsMemory(data));

    /// <summary>Adds a discard.</summary>
    /// <param name="offset">The byte offset.</param>
    /// <param name="length">The length in bytes.</param>
    /// <returns>The IO's index in the batch.</returns>
    public int Discard(long offset, long length) => Add(RequestOp.Discard, RequestFlags.None, offset, length, default);

    /// <summary>Adds a flush.</summary>
    /// <returns>The IO's index in the batch.</returns>
    public int Flush() => Add(RequestOp.Flush, RequestFlags.None, 0, 0, default);

    /// <summary>Gets the outcome of IO <paramref name="index"/> of the last submitted batch.</summary>
    /// <param name="index">The index <c>Read</c>, <c>Write</c>, ... returned.</param>
    /// <returns>Its status.</returns>
    public BlockStatus GetStatus(int index)
    {
        if (!_submitted || _inFlight)
        {
            throw new InvalidOperationException("The batch has not completed.");
        }

        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, _entries.Count);
        return _statuses[index];
    }

    /// <summary>
    /// Merges, splits and dispatches the batch. Completes when every IO in it ended; never throws for a failed
    /// IO (see <see cref="GetStatus"/>).
    /// </summary>
    /// <returns>A task that completes when the batch is done.</returns>
    public ValueTask SubmitAsync()
    {
        if (_inFlight)
        {
            throw new InvalidOperationException("The batch is already being submitted.");
        }

        _submitted = true;
        if (_statuses.Length < _entries.Count)
        {
            _statuses = new BlockStatus[_entries.Count * 2];
        }

        Array.Clear(_statuses, 0, _entries.Count);
        Plan();
        RequestCount = _plan.Count;
        if (_plan.Count == 0)
        {
            return default;
        }

        _inFlight = true;
        _core.Reset();
        _remaining = _plan.Count + 1;
        _device.Disk.SubmitPlanned(CollectionsMarshal.AsSpan(_plan), _segments, this);
        Arrive();
        return new ValueTask(this, _core.Version);
    }

    void IRequestCompletion.OnRequestCompleted(long cookie, BlockStatus status)
    {
        if (status != BlockStatus.Ok)
        {
            int first = (int)(cookie >> 32);
            int count = (int)(uint)cookie;
            for (int i = first; i < first + count; i++)
            {
                // A split IO keeps the first failure of its parts.
                if (_statuses[i] == BlockStatus.Ok)
                {
                    _statuses[i] = status;
                }
            }
        }

        Arrive();
    }

    void IValueTaskSource.GetResult(short token)
    {
        _core.GetResult(token);
        _inFlight = false;
    }

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);

    private int Add(RequestOp op, RequestFlags flags, long offset, long length, Memory<byte> data)
    {
        if (_inFlight)
        {
            throw new InvalidOperationException("The batch is being submitted; wait for it before adding.");
        }

        if (_submitted)
        {
            _entries.Clear();
            _submitted = false;
        }

        Disk disk = _device.Disk;
        int mask = disk.Limits.LogicalBlockSize - 1;
        if (offset < 0 || length < 0 || ((offset | length) & mask) != 0 || offset > disk.Capacity - length)
        {
            throw new ArgumentOutOfRangeException(nameof(offset), offset, $"The range [{offset}, {offset + length}) is negative, not aligned to {mask + 1} bytes, or beyond the end of disk '{disk.Name}' ({disk.Capacity} bytes).");
        }

        _entries.Add(new Entry(op, flags, offset, length, data));
        return _entries.Count - 1;
    }

    private void Arrive()
    {
        if (Interlocked.Decrement(ref _remaining) == 0)
        {
            _core.SetResult(true);
        }
    }

    private void Plan()
    {
        _plan.Clear();
        Disk disk = _device.Disk;
        int segmentCount = 0;
        for (int i = 0; i < _entries.Count; i++)
        {
            Entry entry = _entries[i];
            BlockStatus refused = Refuse(disk, entry);
            if (refused != BlockStatus.Ok || (entry.Length == 0 && (entry.Op != RequestOp.Flush || !disk.HasWriteCache)))
            {
                _statuses[i] = refused;
                continue;
            }

            long max = disk.MaxRequestBytes(entry.Op);
            bool data = entry.Op is RequestOp.Read or RequestOp.Write;
            RequestFlags flags = disk.HasWriteCache ? entry.Flags : entry.Flags & ~RequestFlags.Fua;
            if (data && _plan.Count > 0 && entry.Length <= max)
            {
                // Back merge into the previous request when it is the same kind and directly adjacent.
                ref PlannedRequest last = ref CollectionsMarshal.AsSpan(_plan)[^1];
                if (last.Op == entry.Op && last.Flags == flags && last.FirstEntry + last.EntryCount == i
                    && (last.Sector << 9) + last.Bytes == entry.Offset && last.Bytes + entry.Length <= max
                    && last.SegmentCount < disk.Limits.MaxSegments && last.FirstSegment + last.SegmentCount == segmentCount)
                {
                    AddSegment(ref segmentCount, entry.Data);
                    last.Bytes += (int)entry.Length;
                    last.SegmentCount++;
                    last.EntryCount++;
                    continue;
                }
            }

            long done = 0;
            do
            {
                int part = (int)Math.Min(max, entry.Length - done);
                var request = new PlannedRequest
                {
                    Op = entry.Op,
                    Flags = flags,
                    Sector = (entry.Offset + done) >> 9,
                    Bytes = part,
                    FirstSegment = segmentCount,
                    SegmentCount = 0,
                    FirstEntry = i,
                    EntryCount = 1,
                };
                if (data)
                {
                    AddSegment(ref segmentCount, entry.Data.Slice((int)done, part));
                    request.SegmentCount = 1;
                }

                _plan.Add(request);
                done += part;
            }
            while (done < entry.Length);
        }
    }

    private void AddSegment(ref int count, Memory<byte> segment)
    {
        if (count == _segments.Length)
        {
            Array.Resize(ref _segments, count * 2);
        }

        _segments[count++] = segment;
    }

    private static BlockStatus Refuse(Disk disk, Entry entry)
    {
        if (disk.IsRemoved)
        {
            return BlockStatus.Offline;
        }

        if (entry.Op != RequestOp.Read && entry.Op != RequestOp.Flush && disk.IsReadOnly)
        {
            return BlockStatus.ReadOnly;
        }

        if (entry.Op == RequestOp.Discard && !disk.SupportsDiscard)
        {
            return BlockStatus.NotSupported;
        }

        // A flush without a write cache is also Ok: Plan skips it, as the block layer does.
        return BlockStatus.Ok;
    }

    private readonly record struct Entry(RequestOp Op, RequestFlags Flags, long Offset, long Length, Memory<byte> Data);
}
