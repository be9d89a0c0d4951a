using System.Buffers;
using System.Runtime.InteropServices;
using Blkmq.Drivers.File.Interop;

namespace Blkmq.Drivers.File;

/// <summary>
/// The file driver's synchronous operations, run by the threads engine's workers (all of them) and by the io_uring
/// engine's ring thread for what io_uring cannot do on a device (<c>BLKDISCARD</c>, <c>BLKZEROOUT</c>) or what a file
/// system refused (write zeroes where <c>FALLOC_FL_ZERO_RANGE</c> is unsupported).
/// </summary>
internal static unsafe class FileIo
{
    private const int ZeroBufferSize = 256 << 10;
    private static nint s_zeroes;

    /// <summary>Pins a request's segments and describes them as iovecs; the caller unpins with <see cref="Unpin"/>.</summary>
    /// <returns>The number of segments.</returns>
    public static int Pin(Request<FileRequest> request, IoVec* iov, MemoryHandle[] pins)
    {
        int count = 0;
        try
        {
            foreach (Memory<byte> segment in request.Segments)
            {
                MemoryHandle handle = segment.Pin();
                pins[count] = handle;
                iov[count].Base = (nint)handle.Pointer;
                iov[count].Length = (nuint)segment.Length;
                count++;
            }
        }
        catch
        {
            Unpin(pins, count);
            throw;
        }

        return count;
    }

    /// <summary>Releases the first <paramref name="count"/> pins.</summary>
    public static void Unpin(MemoryHandle[] pins, int count)
    {
        for (int i = 0; i < count; i++)
        {
            pins[i].Dispose();
            pins[i] = default;
        }
    }

    /// <summary>Moves the iovec array past <paramref name="done"/> bytes (after a short transfer).</summary>
    /// <returns>The index of the first iovec with bytes left.</returns>
    public static int Advance(IoVec* iov, int first, int count, long done)
    {
        while (first < count && done > 0)
        {
            long length = (long)iov[first].Length;
            if (done < length)
            {
                iov[first].Base += (nint)done;
                iov[first].Length -= (nuint)done;
                return first;
            }

            done -= length;
            first++;
        }

        return first;
    }

    /// <summary>
    /// Serves a one-segment read from the page cache on the submitter's thread, inside <c>QueueRq</c>:
    /// <c>preadv2(RWF_NOWAIT)</c> on the buffered descriptor, which copies what is cached and fails with EAGAIN rather
    /// than wait for the device. When the whole segment was cached the request is ended here (the block layer
    /// completes the submitter inline, with no thread hop: nbdkit's <c>pread</c> on its connection thread costs the
    /// same); otherwise nothing happened and the engine reads it as usual. Reads that <c>O_DIRECT</c> would serve
    /// are left to the engine: they go to the device, not the cache. On tmpfs (<see cref="FileDisk.InMemory"/>),
    /// whose pages are memory and which has no <c>RWF_NOWAIT</c>, the read is a plain <c>preadv2</c>, and a write is
    /// served the same way: <c>pwritev2</c> (<c>RWF_DSYNC</c> for FUA, which tmpfs meets at once). A write that
    /// fails or is short here (ENOSPC on a full tmpfs) is left to the engine, which writes it all again and reports
    /// the error: writing the same bytes twice is harmless, and the client sees one answer.
    /// </summary>
    /// <returns>Whether the request was ended.</returns>
    public static bool TryTransferInline(FileDisk disk, Request<FileRequest> request, bool write)
    {
        if (request.Segments.Count != 1)
        {
            return false;
        }

        Memory<byte> segment = request.Segments[0];
        long offset = request.Sector << 9;
        nint done;
        fixed (byte* buffer = segment.Span)
        {
            // A stack iovec and a fixed pin: nothing allocated, nothing left pinned after the call.
            IoVec iov = new() { Base = (nint)buffer, Length = (nuint)segment.Length };
            if (disk.SelectFd(&iov, 1, offset) != disk.Fd)
            {
                return false;
            }

            done = write
                ? Libc.Pwritev2(disk.Fd, &iov, 1, offset, (request.Flags & RequestFlags.Fua) != 0 ? Libc.RwfDsync : 0)
                : Libc.Preadv2(disk.Fd, &iov, 1, offset, disk.CachedReadFlags);
        }

        if (done != segment.Length)
        {
            // The engine does it all again. A read: EAGAIN (not cached), a partial copy, or a kernel or file system
            // without RWF_NOWAIT (EOPNOTSUPP: stop trying on this disk). A write: ENOSPC or a short write.
            if (!write && done < 0 && Marshal.GetLastPInvokeError() == Errno.EOPNOTSUPP)
            {
                disk.NoteNoWaitUnsupported();
            }

            return false;
        }

        _ = request.TryEnd(BlockStatus.Ok);
        return true;
    }

    /// <summary>Runs one request to its end synchronously.</summary>
    /// <returns>The request's status.</returns>
    public static BlockStatus Execute(FileDisk disk, Request<FileRequest> request, IoVec* iov, MemoryHandle[] pins)
    {
        RequestOp op = request.Op;
        switch (op)
        {
            case RequestOp.Read:
            case RequestOp.Write:
                return Transfer(disk, request, op == RequestOp.Write, iov, pins);
            case RequestOp.Flush:
                return Libc.Fdatasync(disk.Fd) == 0 ? BlockStatus.Ok : FileStatus.FromErrno(Marshal.GetLastPInvokeError());
            case RequestOp.Discard:
                return Discard(disk, request.Sector << 9, request.Length);
            case RequestOp.WriteZeroes:
                return WriteZeroes(disk, request.Sector << 9, request.Length, request.Flags);
            default:
                return BlockStatus.NotSupported;
        }
    }

    /// <summary>Discards a range: a hole punched in a file, <c>BLKDISCARD</c> on a device. A file system without holes ignores it.</summary>
    public static BlockStatus Discard(FileDisk disk, long offset, long length)
    {
        if (disk.IsBlockDevice)
        {
            return RangeIoctl(disk.Fd, Libc.BlkDiscard, offset, length);
        }

        if (Libc.Fallocate(disk.Fd, Libc.FallocPunchHole | Libc.FallocKeepSize, offset, length) == 0)
        {
            return BlockStatus.Ok;
        }

        int errno = Marshal.GetLastPInvokeError();
        // Discard is advisory: a file system that cannot punch holes keeps the data, which is allowed.
        return errno == Errno.EOPNOTSUPP ? BlockStatus.Ok : FileStatus.FromErrno(errno);
    }

    /// <summary>
    /// Writes zeroes over a range. On a device <c>BLKZEROOUT</c>. On a file, when the range may be deallocated, a
    /// punched hole, else <c>FALLOC_FL_ZERO_RANGE</c>; with <see cref="RequestFlags.NoUnmap"/> (NBD's <c>NO_HOLE</c>:
    /// the range must stay provisioned) <c>FALLOC_FL_ZERO_RANGE</c>, else a punched hole allocated again with
    /// <c>fallocate</c> (tmpfs has no ZERO_RANGE), as nbdkit's file plugin does. Where the file system has none of
    /// these, zero buffers are written, unless <see cref="RequestFlags.NoFallback"/> (NBD's <c>FAST_ZERO</c>) asks
    /// for <see cref="BlockStatus.NotSupported"/> instead of a zeroing no faster than a write.
    /// </summary>
    public static BlockStatus WriteZeroes(FileDisk disk, long offset, long length, RequestFlags flags)
    {
        if (disk.IsBlockDevice)
        {
            return RangeIoctl(disk.Fd, Libc.BlkZeroOut, offset, length);
        }

        const int Punch = Libc.FallocPunchHole | Libc.FallocKeepSize;
        const int ZeroRange = Libc.FallocZeroRange | Libc.FallocKeepSize;
        bool provision = (flags & RequestFlags.NoUnmap) != 0;
        int errno = Fallocate(disk.Fd, provision ? ZeroRange : Punch, offset, length);
        if (errno == Errno.EOPNOTSUPP)
        {
            errno = Fallocate(disk.Fd, provision ? Punch : ZeroRange, offset, length);
            if (errno == 0 && provision)
            {
                // The hole reads as zeroes; allocating it again keeps the promise (or reports ENOSPC, as a write would).
                errno = Fallocate(disk.Fd, Libc.FallocKeepSize, offset, length);
            }
        }

        if (errno != Errno.EOPNOTSUPP)
        {
            return errno == 0 ? BlockStatus.Ok : FileStatus.FromErrno(errno);
        }

        return (flags & RequestFlags.NoFallback) != 0 ? BlockStatus.NotSupported : WriteZeroBuffers(disk.Fd, offset, length);
    }

    /// <returns>0, or the errno of <c>fallocate</c>.</returns>
    private static int Fallocate(int fd, int mode, long offset, long length)
    {
        return Libc.Fallocate(fd, mode, offset, length) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    private static BlockStatus Transfer(FileDisk disk, Request<FileRequest> request, bool write, IoVec* iov, MemoryHandle[] pins)
    {
        long offset = request.Sector << 9;
        bool fua = write && (request.Flags & RequestFlags.Fua) != 0;
        int count = Pin(request, iov, pins);
        try
        {
            int fd = disk.SelectFd(iov, count, offset);
            long remaining = request.Length;
            int first = 0;
            while (remaining > 0)
            {
                nint done = write
                    ? Libc.Pwritev2(fd, iov + first, count - first, offset, fua ? Libc.RwfDsync : 0)
                    : Libc.Preadv2(fd, iov + first, count - first, offset, 0);
                if (done < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno is Errno.EINTR or Errno.EAGAIN)
                    {
                        continue;
                    }

                    return FileStatus.FromErrno(errno);
                }

                if (done == 0)
                {
                    // End of file inside the disk: the file shrank under us.
                    return BlockStatus.IoError;
                }

                remaining -= done;
                offset += done;
                first = Advance(iov, first, count, done);
            }

            return BlockStatus.Ok;
        }
        finally
        {
            Unpin(pins, count);
        }
    }

    private static BlockStatus RangeIoctl(int fd, ulong request, long offset, long length)
    {
        ulong* range = stackalloc ulong[2];
        range[0] = (ulong)offset;
        range[1] = (ulong)length;
        return Libc.Ioctl(fd, request, range) == 0 ? BlockStatus.Ok : FileStatus.FromErrno(Marshal.GetLastPInvokeError());
    }

    private static BlockStatus WriteZeroBuffers(int fd, long offset, long length)
    {
        nint zeroes = Volatile.Read(ref s_zeroes);
        if (zeroes == 0)
        {
            nint allocated = (nint)NativeMemory.AllocZeroed(ZeroBufferSize);
            zeroes = Interlocked.CompareExchange(ref s_zeroes, allocated, 0);
            if (zeroes == 0)
            {
                zeroes = allocated;
            }
            else
            {
                NativeMemory.Free((void*)allocated);
            }
        }

        IoVec iov;
        while (length > 0)
        {
            iov.Base = zeroes;
            iov.Length = (nuint)Math.Min(length, ZeroBufferSize);
            nint done = Libc.Pwritev2(fd, &iov, 1, offset, 0);
            if (done <= 0)
            {
                int errno = done < 0 ? Marshal.GetLastPInvokeError() : Errno.EIO;
                if (errno == Errno.EINTR)
                {
                    continue;
                }

                return FileStatus.FromErrno(errno);
            }

            offset += done;
            length -= done;
        }

        return BlockStatus.Ok;
    }
}
