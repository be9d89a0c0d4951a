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
/// or after a concurrent write, never torn. Both overlays are sparse files of the disk's size, written with
/// <c>pwrite</c> and read with <c>pread</c> at the blocks' own offsets: the memory overlay is an anonymous
/// <c>memfd</c> (shared memory, swappable, gone with the process), the other a file of the user's. A read lays each
/// run of overlay blocks over the data with one read.
/// </remarks>
internal sealed partial class CowFilter : BlockFilter
{
    private const int ENOSPC = 28;
    private const int ENOMEM = 12;

    /// <summary>Zeroes for a write zeroes that must stay provisioned; a multiple of every logical block size.</summary>
    private static readonly byte[] s_zeroes = new byte[64 * 1024];

    private readonly Lock _lock = new();
    private readonly int _block;
    private readonly int _blockShift;
    private readonly long _capacity;
    private readonly SparseBitmap _present;
    private readonly SparseBitmap _zero;
    private readonly SafeFileHandle _file;

    // Keep the overlay file at exit: without the bitmaps it is only the written blocks at their offsets (holes
    // elsewhere), for a look at what a guest wrote; it is not reopened as an overlay.
    private readonly bool _keep;
    private readonly string? _path;

    public CowFilter(FilterArguments arguments, Disk lower)
    {
        _block = lower.Limits.LogicalBlockSize;
        _blockShift = BitOperations.Log2((uint)_block);
        _capacity = lower.Capacity;
        long blocks = _capacity >> _blockShift;
        _present = new SparseBitmap(blocks);
        _zero = new SparseBitmap(blocks);
        _path = arguments.GetString("file");
        _keep = arguments.GetBool("keep", false);
        _file = _path is null ? CreateMemoryOverlay(_capacity) : CreateOverlayFile(_path, _capacity);
    }

    /// <inheritdoc/>
    public override string Name => "cow";

    /// <inheritdoc/>
    /// <remarks>An overlay file is written (and flushed on FUA) inside <see cref="Queue"/>; the memory overlay does not wait for a disk.</remarks>
    public override bool Blocking => _path is not null;

    /// <inheritdoc/>
    public override string Parameters => _path is null ? "overlay=memory" : "file=" + _path + (_keep ? ",keep=1" : string.Empty);

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
        _file.Dispose();
        if (_path is not null)
        {
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
    /// of blocks the overlay holds is one clear or one read of the overlay.
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
                        else
                        {
                            ReadOverlay(target, b << _blockShift);
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

    /// <summary>Gets how errors name the overlay: its file, or the memory overlay.</summary>
    private string OverlayName => _path is null ? "memory overlay" : "file=" + _path;

    private void ReadOverlay(Span<byte> target, long offset)
    {
        while (!target.IsEmpty)
        {
            int read = RandomAccess.Read(_file, target, offset);
            if (read <= 0)
            {
                throw new IOException($"filter 'cow': {OverlayName}: short read at {offset}.");
            }

            target = target[read..];
            offset += read;
        }
    }

    private BlockStatus Write(long offset, ReadOnlySpan<byte> data, bool fua)
    {
        try
        {
            lock (_lock)
            {
                // The bitmaps change only once the bytes are in: a failed write leaves the blocks as they were.
                RandomAccess.Write(_file, data, offset);
                long first = offset >> _blockShift;
                long end = (offset + data.Length) >> _blockShift;
                _present.SetRange(first, end, value: true);
                _zero.SetRange(first, end, value: false);
            }

            if (fua && _path is not null)
            {
                RandomAccess.FlushToDisk(_file);
            }

            return BlockStatus.Ok;
        }
        catch (IOException ex)
        {
            return StatusOf(ex);
        }
    }

    /// <summary>
    /// The status of a failed overlay write: out of space (a full file system, or no memory left for the memory
    /// overlay: <c>ENOSPC</c>, <c>ENOMEM</c>) is <see cref="BlockStatus.NoSpace"/>, anything else an IO error.
    /// </summary>
    private static BlockStatus StatusOf(IOException ex) => ex.HResult is ENOSPC or ENOMEM ? BlockStatus.NoSpace : BlockStatus.IoError;

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
        if (_path is null)
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

    /// <summary>
    /// The memory overlay: on Linux an anonymous <c>memfd</c> of the disk's size (elsewhere a temporary file deleted on
    /// close), sparse until written.
    /// </summary>
    /// <remarks>
    /// Not anonymous memory of our own: the kernel zeroes every fresh anonymous page before handing it over, and the
    /// overlay's first writes are all fresh pages. Chunks carved from populated huge-page slabs (the overlay before
    /// this) still spent most of a 1 MiB write in <c>clear_page_erms</c>, and a 4 KiB random write paid for a whole
    /// chunk. A <c>pwrite</c> of whole pages into a memfd fills its new pages without clearing them first, as a write
    /// into the page cache of nbdkit's overlay file does: NBD 4 KiB random writes at QD32 over a Unix socket ran
    /// 1.5-1.9x faster than into the chunks (same run), and reads of the overlay cost one <c>pread</c> per run of blocks.
    /// </remarks>
    private static SafeFileHandle CreateMemoryOverlay(long capacity)
    {
        SafeFileHandle file;
        if (OperatingSystem.IsLinux())
        {
            int fd = Native.MemfdCreate("blkmq-cow", Native.MfdCloexec);
            if (fd < 0)
            {
                throw new IOException($"filter 'cow': cannot create the memory overlay (memfd_create: errno {Marshal.GetLastPInvokeError()}).");
            }

            file = new SafeFileHandle(fd, ownsHandle: true);
        }
        else
        {
            file = File.OpenHandle(Path.Combine(Path.GetTempPath(), "blkmq-cow-" + Guid.NewGuid().ToString("N")), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, FileOptions.DeleteOnClose);
        }

        try
        {
            RandomAccess.SetLength(file, capacity);
            return file;
        }
        catch (IOException ex)
        {
            file.Dispose();
            throw new IOException($"filter 'cow': cannot size the memory overlay to {capacity} bytes: {ex.Message}", ex);
        }
    }

    /// <summary>libc's <c>memfd_create</c> (Linux).</summary>
    private static partial class Native
    {
        public const uint MfdCloexec = 0x1;

        [LibraryImport("libc", EntryPoint = "memfd_create", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
        public static partial int MemfdCreate(string name, uint flags);
    }
}
