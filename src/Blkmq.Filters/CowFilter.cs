using System.Globalization;
using Microsoft.Win32.SafeHandles;

namespace Blkmq.Filters;

/// <summary>
/// Copy-on-write (nbdkit's cow filter, qemu's snapshot mode): writes, discards and write zeroes go to a sparse
/// overlay, in memory or in <c>file=overlay.img</c>; the disk below is never written (a file driver under cow is
/// opened read-only). Two bitmaps over the disk's logical blocks say which blocks the overlay holds and which of those
/// read as zeroes (a discarded or zeroed range costs two bits per block, no data). A read goes below, then the
/// overlay's blocks are laid over what came back; a read the overlay covers entirely never goes below.
/// </summary>
/// <remarks>
/// One lock orders overlay writes and the copy of overlay blocks into reads, so a read sees each block either before
/// or after a concurrent write, never torn. The memory overlay keeps chunks of <c>cow_block_size</c> bytes, allocated
/// on first write.
/// </remarks>
internal sealed class CowFilter : BlockFilter
{
    private readonly Lock _lock = new();
    private readonly int _block;
    private readonly int _blockShift;
    private readonly int _chunkSize;
    private readonly long _capacity;
    private readonly ulong[] _present;
    private readonly ulong[] _zero;
    private readonly Dictionary<long, byte[]> _chunks = [];
    private readonly SafeFileHandle? _file;
    private readonly string? _path;

    public CowFilter(FilterArguments arguments, Disk lower)
    {
        _block = lower.Limits.LogicalBlockSize;
        _blockShift = System.Numerics.BitOperations.Log2((uint)_block);
        _capacity = lower.Capacity;
        _chunkSize = (int)arguments.GetSize("cow_block_size", 65536);
        if (!System.Numerics.BitOperations.IsPow2(_chunkSize) || _chunkSize < _block || _chunkSize > (16 << 20))
        {
            throw new FormatException($"filter 'cow': cow-block-size={_chunkSize} must be a power of two from the disk's block size ({_block}) to 16M.");
        }

        long blocks = _capacity >> _blockShift;
        _present = new ulong[(blocks + 63) / 64];
        _zero = new ulong[(blocks + 63) / 64];
        _path = arguments.GetString("file");
        if (_path is not null)
        {
            try
            {
                _file = File.OpenHandle(_path, FileMode.Create, FileAccess.ReadWrite, FileShare.None);
                RandomAccess.SetLength(_file, _capacity);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                _file?.Dispose();
                throw new IOException($"filter 'cow': file={_path}: {ex.Message}", ex);
            }
        }
    }

    /// <inheritdoc/>
    public override string Name => "cow";

    /// <inheritdoc/>
    public override string Parameters => string.Create(CultureInfo.InvariantCulture, $"cow-block-size={_chunkSize}") + (_path is null ? string.Empty : ",file=" + _path);

    /// <inheritdoc/>
    public override DiskOptions Shape(Disk lower, string name)
    {
        DiskOptions shape = PassThroughShape(lower, name);
        return shape with
        {
            ReadOnly = false,
            WriteCache = true,
            Fua = true,
            Allocation = null,
            Limits = shape.Limits with
            {
                MaxDiscardSectors = int.MaxValue >> 9,
                MaxWriteZeroesSectors = int.MaxValue >> 9,
                DiscardGranularity = 0,
            },
        };
    }

    /// <inheritdoc/>
    public override void Queue(FilterIo io)
    {
        switch (io.Op)
        {
            case RequestOp.Read:
                if (CoversAll(io.Offset, io.Length))
                {
                    OverlayRead(io);
                    io.End(BlockStatus.Ok);
                }
                else
                {
                    io.Forward();
                }

                break;
            case RequestOp.Write:
                io.End(Write(io.Offset, io.Buffer.Span, (io.Flags & RequestFlags.Fua) != 0));
                break;
            case RequestOp.Discard:
            case RequestOp.WriteZeroes:
                io.End(Zero(io.Offset, io.Length));
                break;
            case RequestOp.Flush:
                io.End(Flush());
                break;
            default:
                io.End(BlockStatus.NotSupported);
                break;
        }
    }

    /// <inheritdoc/>
    public override void OnForwarded(FilterIo io, BlockStatus status)
    {
        if (status == BlockStatus.Ok && io.Op == RequestOp.Read)
        {
            OverlayRead(io);
        }

        io.End(status);
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        _file?.Dispose();
        base.Dispose(disposing);
    }

    private static bool Test(ulong[] bits, long index) => (bits[index >> 6] & (1UL << (int)(index & 63))) != 0;

    private static void Set(ulong[] bits, long index, bool value)
    {
        if (value)
        {
            bits[index >> 6] |= 1UL << (int)(index & 63);
        }
        else
        {
            bits[index >> 6] &= ~(1UL << (int)(index & 63));
        }
    }

    private bool CoversAll(long offset, int length)
    {
        long first = offset >> _blockShift;
        long end = (offset + length) >> _blockShift;
        lock (_lock)
        {
            for (long b = first; b < end; b++)
            {
                if (!Test(_present, b))
                {
                    return false;
                }
            }
        }

        return true;
    }

    private void OverlayRead(FilterIo io)
    {
        Span<byte> buffer = io.Buffer.Span;
        long first = io.Offset >> _blockShift;
        long end = (io.Offset + io.Length) >> _blockShift;
        lock (_lock)
        {
            for (long b = first; b < end; b++)
            {
                if (!Test(_present, b))
                {
                    continue;
                }

                Span<byte> target = buffer.Slice((int)((b - first) << _blockShift), _block);
                if (Test(_zero, b))
                {
                    target.Clear();
                }
                else if (_file is not null)
                {
                    RandomAccess.Read(_file, target, b << _blockShift);
                }
                else
                {
                    long byteOffset = b << _blockShift;
                    byte[] chunk = _chunks[byteOffset / _chunkSize];
                    chunk.AsSpan((int)(byteOffset % _chunkSize), _block).CopyTo(target);
                }
            }
        }
    }

    private BlockStatus Write(long offset, ReadOnlySpan<byte> data, bool fua)
    {
        try
        {
            lock (_lock)
            {
                if (_file is not null)
                {
                    RandomAccess.Write(_file, data, offset);
                }
                else
                {
                    for (int done = 0; done < data.Length;)
                    {
                        long at = offset + done;
                        long index = at / _chunkSize;
                        int inChunk = (int)(at % _chunkSize);
                        int part = Math.Min(data.Length - done, _chunkSize - inChunk);
                        if (!_chunks.TryGetValue(index, out byte[]? chunk))
                        {
                            chunk = new byte[_chunkSize];
                            _chunks.Add(index, chunk);
                        }

                        data.Slice(done, part).CopyTo(chunk.AsSpan(inChunk));
                        done += part;
                    }
                }

                for (long b = offset >> _blockShift, end = (offset + data.Length) >> _blockShift; b < end; b++)
                {
                    Set(_present, b, true);
                    Set(_zero, b, false);
                }
            }

            if (fua && _file is not null)
            {
                RandomAccess.FlushToDisk(_file);
            }

            return BlockStatus.Ok;
        }
        catch (IOException)
        {
            return BlockStatus.IoError;
        }
    }

    private BlockStatus Zero(long offset, int length)
    {
        lock (_lock)
        {
            for (long b = offset >> _blockShift, end = (offset + length) >> _blockShift; b < end; b++)
            {
                Set(_present, b, true);
                Set(_zero, b, true);
            }
        }

        return BlockStatus.Ok;
    }

    private BlockStatus Flush()
    {
        if (_file is null)
        {
            return BlockStatus.Ok;
        }

        try
        {
            RandomAccess.FlushToDisk(_file);
            return BlockStatus.Ok;
        }
        catch (IOException)
        {
            return BlockStatus.IoError;
        }
    }
}
