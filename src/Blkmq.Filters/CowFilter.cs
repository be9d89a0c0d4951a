using System.Globalization;
using System.Numerics;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Blkmq.Filters;

/// <summary>
/// Copy-on-write (nbdkit's cow filter, qemu's snapshot mode): writes, discards and write zeroes go to a sparse
/// overlay, in memory or in <c>file=overlay.img</c>; the disk below is never written (a file driver under cow is
/// opened read-only). Two bitmaps over the disk's logical blocks say which blocks the overlay holds and which of those
/// read as zeroes (a discarded or zeroed range costs two bits per block, no data); they are sparse
/// (<see cref="SparseBitmap"/>), so a large disk costs bitmap memory only where it was written. A read goes below, then the
/// overlay's blocks are laid over what came back; a read the overlay covers entirely never goes below.
/// </summary>
/// <remarks>
/// One lock orders overlay writes and the copy of overlay blocks into reads, so a read sees each block either before
/// or after a concurrent write, never torn. The memory overlay keeps chunks of <c>cow_block_size</c> bytes of native
/// memory carved from 2 MiB slabs, taken on first write and freed with the filter (after the disk drained). A read lays each run of
/// overlay blocks over the data with one copy per chunk or one read of the overlay file.
/// </remarks>
internal sealed unsafe partial class CowFilter : BlockFilter
{
    /// <summary>Bytes of one slab the memory overlay carves its chunks from (or one chunk, when larger): a huge page.</summary>
    private const int SlabSize = 2 << 20;

    /// <summary>Zeroes for a write zeroes that must stay provisioned; a multiple of every logical block size.</summary>
    private static readonly byte[] s_zeroes = new byte[64 * 1024];

    private readonly Lock _lock = new();
    private readonly int _block;
    private readonly int _blockShift;
    private readonly int _chunkSize;
    private readonly int _chunkShift;
    private readonly long _capacity;
    private readonly SparseBitmap _present;
    private readonly SparseBitmap _zero;
    private readonly Dictionary<long, nint> _chunks = [];
    private readonly List<(nint Address, nuint Length)> _slabs = [];
    private nint _slabNext;
    private nint _slabEnd;
    private readonly SafeFileHandle? _file;

    // Keep the overlay file at exit: without the bitmaps it is only the written blocks at their offsets (holes
    // elsewhere), for a look at what a guest wrote; it is not reopened as an overlay.
    private readonly bool _keep;
    private readonly string? _path;

    public CowFilter(FilterArguments arguments, Disk lower)
    {
        _block = lower.Limits.LogicalBlockSize;
        _blockShift = BitOperations.Log2((uint)_block);
        _capacity = lower.Capacity;
        // 4 KiB by default, not nbdkit's 64K: a chunk is fresh memory the kernel zeroes on first touch, so a 4 KiB random
        // write into an empty overlay paid for 64K of it (NBD randwrite QD32 0.34x nbdkit's cow at 64K, 1.47x at 4K).
        _chunkSize = (int)arguments.GetSize("cow_block_size", Math.Max(4096, _block));
        if (!BitOperations.IsPow2(_chunkSize) || _chunkSize < _block || _chunkSize > (16 << 20))
        {
            throw new FormatException($"filter 'cow': cow-block-size={_chunkSize} must be a power of two from the disk's block size ({_block}) to 16M.");
        }

        _chunkShift = BitOperations.Log2((uint)_chunkSize);
        long blocks = _capacity >> _blockShift;
        _present = new SparseBitmap(blocks);
        _zero = new SparseBitmap(blocks);
        _path = arguments.GetString("file");
        _keep = arguments.GetBool("keep", false);
        if (_path is not null)
        {
            _file = CreateOverlayFile(_path, _capacity);
        }
    }

    /// <inheritdoc/>
    public override string Name => "cow";

    /// <inheritdoc/>
    /// <remarks>An overlay file is written (and flushed on FUA) inside <see cref="Queue"/>.</remarks>
    public override bool Blocking => _file is not null;

    /// <inheritdoc/>
    public override string Parameters => string.Create(CultureInfo.InvariantCulture, $"cow-block-size={_chunkSize}") + (_path is null ? string.Empty : ",file=" + _path + (_keep ? ",keep=1" : string.Empty));

    /// <inheritdoc/>
    public override DiskOptions Shape(Disk lower, string name)
    {
        DiskOptions shape = PassThroughShape(lower, name);
        return shape with
        {
            ReadOnly = false,
            WriteCache = true,
            Fua = true,
            Allocation = new OverlayAllocation(this, lower.Allocation),
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
                    io.End(OverlayRead(io.Buffer.Span, io.Offset));
                }
                else
                {
                    io.Forward();
                }

                break;
            case RequestOp.Write:
                io.End(Write(io.Offset, io.Buffer.Span, (io.Flags & RequestFlags.Fua) != 0));
                break;
            case RequestOp.WriteZeroes when (io.Flags & RequestFlags.NoUnmap) != 0:
                // NBD's NO_HOLE: the range must stay provisioned, so the overlay keeps zeroes as data (block status: data).
                io.End(WriteZeroData(io.Offset, io.Length));
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
            status = OverlayRead(io.Buffer.Span, io.Offset);
        }

        io.End(status);
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (_file is not null)
        {
            _file.Dispose();
            if (!_keep)
            {
                // Like nbdkit's cow overlay: a scratch file, gone with the server. It is always the file this filter
                // created (an existing path is refused), so nothing else is deleted.
                try
                {
                    File.Delete(_path!);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    // Already gone, or its directory went read-only: nothing of the disk is lost either way.
                }
            }
        }

        lock (_lock)
        {
            foreach ((nint address, nuint length) in _slabs)
            {
                FreeSlab(address, length);
            }

            _slabs.Clear();
            _chunks.Clear();
            _slabNext = _slabEnd = 0;
        }

        base.Dispose(disposing);
    }

    /// <summary>
    /// Describes the run of blocks at <paramref name="offset"/> as the overlay sees it: (kind, bytes) of a run the
    /// overlay holds (kind 1 data, 2 zeroes), or (0, bytes) of a run it does not hold, which the disk below describes.
    /// </summary>
    private (int Kind, long Length) OverlayExtent(long offset, long maxLength)
    {
        maxLength = Math.Min(maxLength, _capacity - offset);
        long first = offset >> _blockShift;
        long endBlock = (offset + maxLength + _block - 1) >> _blockShift;
        long runEnd;
        int kind;
        lock (_lock)
        {
            if (!_present.Test(first))
            {
                runEnd = _present.Find(first, endBlock, value: true);
                kind = 0;
            }
            else
            {
                bool zero = _zero.Test(first);
                runEnd = Math.Min(_present.Find(first, endBlock, value: false), _zero.Find(first, endBlock, !zero));
                kind = zero ? 2 : 1;
            }
        }

        return (kind, Math.Min(runEnd << _blockShift, offset + maxLength) - offset);
    }

    /// <summary>
    /// NBD block status through cow: what the overlay holds is data (zeroed or discarded blocks a hole), the rest is
    /// as the disk below says (all data when it cannot tell).
    /// </summary>
    private sealed class OverlayAllocation(CowFilter cow, IAllocationSource? lower) : IAllocationSource
    {
        public ValueTask<AllocationExtent> GetExtentAsync(long offset, long maxLength, CancellationToken cancellationToken = default)
        {
            (int kind, long length) = cow.OverlayExtent(offset, maxLength);
            return kind != 0 || lower is null
                ? new ValueTask<AllocationExtent>(new AllocationExtent(kind != 2, length))
                : lower.GetExtentAsync(offset, length, cancellationToken);
        }
    }

    /// <summary>
    /// Creates the overlay file, sparse, of the disk's size. It must be a new file: an existing one (a user's file, the
    /// disk's own image, an overlay kept by <c>keep=1</c>) is refused, never truncated, since the overlay is scratch the
    /// filter deletes at exit.
    /// </summary>
    /// <exception cref="IOException">The path exists or cannot be created; one line naming it.</exception>
    private static SafeFileHandle CreateOverlayFile(string path, long capacity)
    {
        SafeFileHandle file;
        try
        {
            file = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException ex) when (Path.Exists(path) || new FileInfo(path).LinkTarget is not null)
        {
            throw new IOException($"filter 'cow': file={path} already exists; give the path of a new file (the overlay is created at start and deleted at exit unless keep=1).", ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"filter 'cow': file={path}: {ex.Message}", ex);
        }

        try
        {
            RandomAccess.SetLength(file, capacity);
            return file;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The file is the one just created: remove it again.
            file.Dispose();
            File.Delete(path);
            throw new IOException($"filter 'cow': file={path}: {ex.Message}", ex);
        }
    }

    private bool CoversAll(long offset, int length)
    {
        long end = (offset + length) >> _blockShift;
        lock (_lock)
        {
            return _present.Find(offset >> _blockShift, end, value: false) == end;
        }
    }

    /// <summary>
    /// Lays the overlay's blocks over <paramref name="buffer"/> (the data of <paramref name="offset"/> below): each run
    /// of blocks the overlay holds is one clear, one read of the overlay file, or one copy per memory chunk.
    /// </summary>
    private BlockStatus OverlayRead(Span<byte> buffer, long offset)
    {
        long first = offset >> _blockShift;
        long end = (offset + buffer.Length) >> _blockShift;
        try
        {
            lock (_lock)
            {
                for (long b = _present.Find(first, end, value: true); b < end; b = _present.Find(b, end, value: true))
                {
                    long runEnd = _present.Find(b, end, value: false);
                    while (b < runEnd)
                    {
                        bool zero = _zero.Test(b);
                        long partEnd = _zero.Find(b, runEnd, !zero);
                        Span<byte> target = buffer.Slice((int)((b - first) << _blockShift), (int)((partEnd - b) << _blockShift));
                        if (zero)
                        {
                            target.Clear();
                        }
                        else if (_file is not null)
                        {
                            ReadOverlayFile(target, b << _blockShift);
                        }
                        else
                        {
                            CopyFromChunks(target, b << _blockShift);
                        }

                        b = partEnd;
                    }
                }
            }

            return BlockStatus.Ok;
        }
        catch (IOException)
        {
            return BlockStatus.IoError;
        }
    }

    private void ReadOverlayFile(Span<byte> target, long offset)
    {
        while (!target.IsEmpty)
        {
            int read = RandomAccess.Read(_file!, target, offset);
            if (read <= 0)
            {
                throw new IOException($"filter 'cow': file={_path}: short read at {offset}.");
            }

            target = target[read..];
            offset += read;
        }
    }

    private void CopyFromChunks(Span<byte> target, long offset)
    {
        for (int done = 0; done < target.Length;)
        {
            long at = offset + done;
            int inChunk = (int)(at & (_chunkSize - 1));
            int part = Math.Min(target.Length - done, _chunkSize - inChunk);
            new ReadOnlySpan<byte>((byte*)_chunks[at >> _chunkShift] + inChunk, part).CopyTo(target.Slice(done, part));
            done += part;
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
                        long index = at >> _chunkShift;
                        int inChunk = (int)(at & (_chunkSize - 1));
                        int part = Math.Min(data.Length - done, _chunkSize - inChunk);
                        ref nint chunk = ref CollectionsMarshal.GetValueRefOrAddDefault(_chunks, index, out bool exists);
                        if (!exists)
                        {
                            chunk = NewChunk();
                            if (chunk == 0)
                            {
                                _chunks.Remove(index);
                                return BlockStatus.NoSpace;
                            }
                        }

                        data.Slice(done, part).CopyTo(new Span<byte>((byte*)chunk + inChunk, part));
                        done += part;
                    }
                }

                long first = offset >> _blockShift;
                long end = (offset + data.Length) >> _blockShift;
                _present.SetRange(first, end, value: true);
                _zero.SetRange(first, end, value: false);
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

    /// <summary>
    /// A chunk of <see cref="_chunkSize"/> bytes from the current slab, mapping a new slab when it is used up (0 when
    /// no memory is left); under the lock.
    /// </summary>
    /// <remarks>
    /// Native memory, not a byte[] per chunk: chunks live as long as the disk, and a managed chunk per first write
    /// made every write into an empty overlay pay for collections that copied the chunks from generation to
    /// generation (NBD 4 KiB random writes at QD32: a quarter of the file overlay's rate). Slabs, not a malloc per
    /// chunk: on Linux a slab is a 2 MiB-aligned anonymous mapping asked for a huge page and faulted in with one
    /// <c>madvise(MADV_POPULATE_WRITE)</c>, so filling the overlay costs one fault per 2 MiB, not one trap per 4 KiB
    /// page (on this project's VMs a trap is dear: NBD 1 MiB writes into malloc'd chunks spent ~60% of their time in
    /// page faults under memcpy and ran at a twentieth of nbdkit's cow). Bytes of a chunk no write reached are
    /// never read (the bitmaps say so): no clearing of our own.
    /// </remarks>
    private nint NewChunk()
    {
        if (_slabEnd - _slabNext < _chunkSize)
        {
            nuint length = (nuint)Math.Max(SlabSize, _chunkSize);
            nint slab = AllocateSlab(length);
            if (slab == 0)
            {
                return 0;
            }

            _slabs.Add((slab, length));
            _slabNext = slab;
            _slabEnd = slab + (nint)length;
        }

        nint chunk = _slabNext;
        _slabNext += _chunkSize;
        return chunk;
    }

    private static nint AllocateSlab(nuint length)
    {
        if (!OperatingSystem.IsLinux())
        {
            try
            {
                return (nint)NativeMemory.AlignedAlloc(length, SlabSize);
            }
            catch (OutOfMemoryException)
            {
                return 0;
            }
        }

        // Map one slab more than asked and trim it to a 2 MiB boundary: only an aligned range can be a huge page.
        nuint mapped = length + SlabSize;
        nint raw = Native.Mmap(0, mapped, Native.ProtReadWrite, Native.MapPrivateAnonymous, -1, 0);
        if (raw == -1)
        {
            return 0;
        }

        nint start = (raw + (SlabSize - 1)) & ~(nint)(SlabSize - 1);
        if (start > raw)
        {
            _ = Native.Munmap(raw, (nuint)(start - raw));
        }

        nint tail = start + (nint)length;
        if (raw + (nint)mapped > tail)
        {
            _ = Native.Munmap(tail, (nuint)(raw + (nint)mapped - tail));
        }

        // Both are advice: without transparent huge pages, or before Linux 5.14, the pages come by their first write.
        _ = Native.Madvise(start, length, Native.MadvHugePage);
        _ = Native.Madvise(start, length, Native.MadvPopulateWrite);
        return start;
    }

    private static void FreeSlab(nint address, nuint length)
    {
        if (OperatingSystem.IsLinux())
        {
            _ = Native.Munmap(address, length);
        }
        else
        {
            NativeMemory.AlignedFree((void*)address);
        }
    }

    private BlockStatus WriteZeroData(long offset, int length)
    {
        ReadOnlySpan<byte> zeroes = s_zeroes;
        for (int done = 0; done < length;)
        {
            int part = Math.Min(zeroes.Length, length - done);
            BlockStatus status = Write(offset + done, zeroes[..part], fua: false);
            if (status != BlockStatus.Ok)
            {
                return status;
            }

            done += part;
        }

        return BlockStatus.Ok;
    }

    private BlockStatus Zero(long offset, int length)
    {
        long first = offset >> _blockShift;
        long end = (offset + length) >> _blockShift;
        lock (_lock)
        {
            _present.SetRange(first, end, value: true);
            _zero.SetRange(first, end, value: true);
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

    /// <summary>The libc calls of the memory overlay's slabs (Linux).</summary>
    private static partial class Native
    {
        public const int ProtReadWrite = 0x1 | 0x2;
        public const int MapPrivateAnonymous = 0x02 | 0x20;
        public const int MadvHugePage = 14;
        public const int MadvPopulateWrite = 23;

        [LibraryImport("libc", EntryPoint = "mmap")]
        public static partial nint Mmap(nint address, nuint length, int protection, int flags, int fd, nint offset);

        [LibraryImport("libc", EntryPoint = "munmap")]
        public static partial int Munmap(nint address, nuint length);

        [LibraryImport("libc", EntryPoint = "madvise")]
        public static partial int Madvise(nint address, nuint length, int advice);
    }
}
