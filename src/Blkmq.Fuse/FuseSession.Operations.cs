using System.Runtime.InteropServices;
using Blkmq.Frontend;
using Blkmq.Fuse.Interop;

namespace Blkmq.Fuse;

/// <content>The operations: each parses its arguments, serves them and writes its reply body.</content>
internal sealed partial class FuseSession
{
    private const uint OpenAccessModeMask = 0x3;
    private const int OpenTruncate = 0x200;
    private const uint SeekData = 3;
    private const uint SeekHole = 4;

    private int Init(ReadOnlySpan<byte> args, Span<byte> body)
    {
        FuseInitIn init = MemoryMarshal.Read<FuseInitIn>(args);
        if (init.Major > FuseProtocol.KernelVersion)
        {
            // A newer major: answer with ours alone, and the kernel sends INIT again in our version.
            var versionOnly = new FuseInitOut { Major = FuseProtocol.KernelVersion, Minor = FuseProtocol.KernelMinorVersion };
            MemoryMarshal.Write(body, in versionOnly);
            return 8;
        }

        if (init.Major < FuseProtocol.KernelVersion || init.Minor < FuseProtocol.OldestMinorVersion)
        {
            FuseLog.UnsupportedKernel(_logger, init.Major, init.Minor);
            return -Libc.EPROTO;
        }

        // FUSE over io_uring: offered in flags2 (FUSE_INIT_EXT) when the kernel's enable_uring is on.
        bool offered = (init.Flags & FuseUring.InitExt) != 0 && args.Length >= FuseUring.InitInFlags2Offset + 4
            && (MemoryMarshal.Read<uint>(args[FuseUring.InitInFlags2Offset..]) & FuseUring.OverIoUringFlags2) != 0;
        _ringNegotiated = offered && _ioUring != FuseIoUringMode.Off;

        const uint Wanted = FuseProtocol.AsyncRead | FuseProtocol.AtomicOTrunc | FuseProtocol.BigWrites
            | FuseProtocol.AsyncDio | FuseProtocol.ParallelDirops | FuseProtocol.MaxPages;
        var reply = new FuseInitOut
        {
            Major = FuseProtocol.KernelVersion,
            Minor = Math.Min(init.Minor, FuseProtocol.KernelMinorVersion),
            MaxReadahead = init.MaxReadahead,
            Flags = init.Flags & Wanted,
            MaxBackground = 64,
            CongestionThreshold = 48,
            MaxWrite = MaxTransfer,
            TimeGranularity = 1,
            MaxPages = MaxPages,
        };
        if (_ringNegotiated)
        {
            reply.Flags |= FuseUring.InitExt;
            reply.Flags2 = FuseUring.OverIoUringFlags2;
        }

        MemoryMarshal.Write(body, in reply);
        FuseLog.Initialized(_logger, reply.Major, reply.Minor, init.Major, init.Minor, MaxTransfer);
        return Marshal.SizeOf<FuseInitOut>();
    }

    private int Lookup(ulong parent, ReadOnlySpan<byte> args, Span<byte> body)
    {
        if (parent != FuseProtocol.RootNodeId)
        {
            return -Libc.ENOTDIR;
        }

        int end = args.IndexOf((byte)0);
        ReadOnlySpan<byte> name = end < 0 ? args : args[..end];
        FuseNode? node = null;
        foreach (FuseNode candidate in _nodes)
        {
            if (name.SequenceEqual(candidate.NameUtf8))
            {
                node = candidate;
                break;
            }
        }

        if (node is null)
        {
            return -Libc.ENOENT;
        }

        var entry = new FuseEntryOut
        {
            NodeId = node.Id,
            EntryValid = AttributeValidSeconds,
            AttrValid = AttributeValidSeconds,
            Attr = node.Attributes(),
        };
        MemoryMarshal.Write(body, in entry);
        return Marshal.SizeOf<FuseEntryOut>();
    }

    private int GetAttr(ulong node, Span<byte> body)
    {
        if (node != FuseProtocol.RootNodeId && FileNode(node) is null)
        {
            return -Libc.ENOENT;
        }

        return AttrReply(node, body);
    }

    private int SetAttr(FuseCall call, ulong node, ReadOnlySpan<byte> args, Span<byte> body)
    {
        FuseSetAttrIn change = MemoryMarshal.Read<FuseSetAttrIn>(args);
        if (FileNode(node) is not { } file)
        {
            return node == FuseProtocol.RootNodeId ? -Libc.EPERM : -Libc.ENOENT;
        }

        // The size is the disk's. Truncating to N zeroes everything from N on and keeps the size, which is what the
        // data of a file truncated to N and grown back would be: tools that truncate before they write (qemu-img
        // convert, cp, dd seek=N, .NET's FileMode.Create) find zeroes where they expect a fresh file's.
        if ((change.Valid & FuseProtocol.AttrSize) != 0)
        {
            int truncation = CheckTruncate(file, change.Size);
            if (truncation < 0)
            {
                return truncation;
            }

            // Answered with the size asked for and attributes valid for no time: the kernel drops its cached pages
            // past it (they held the data just zeroed), and the next stat or read past it fetches the disk's size.
            file.Change(change);
            var truncatedReply = new FuseAttrOut { Attr = file.Attributes() };
            truncatedReply.Attr.Size = change.Size;
            truncatedReply.Attr.Blocks = change.Size / 512;
            MemoryMarshal.Write(body, in truncatedReply);
            return truncation == 0 ? Marshal.SizeOf<FuseAttrOut>() : call.Wait(Truncate(file, change.Size), Marshal.SizeOf<FuseAttrOut>());
        }

        file.Change(change);
        return AttrReply(node, body);
    }

    private int Open(FuseCall call, ulong node, ReadOnlySpan<byte> args, Span<byte> body)
    {
        if (FileNode(node) is not { } file)
        {
            return node == FuseProtocol.RootNodeId ? -Libc.EISDIR : -Libc.ENOENT;
        }

        FuseOpenIn open = MemoryMarshal.Read<FuseOpenIn>(args);
        bool writes = ((uint)open.Flags & OpenAccessModeMask) != 0;
        if (writes && file.ReadOnly)
        {
            return -Libc.EROFS;
        }

        // O_TRUNC comes with the open (FUSE_ATOMIC_O_TRUNC): a truncation to 0, as SETATTR would be.
        int truncation = writes && (open.Flags & OpenTruncate) != 0 ? CheckTruncate(file, 0) : 0;
        if (truncation < 0)
        {
            return truncation;
        }

        int length = OpenReply(body, _directIO ? FuseProtocol.OpenDirectIO : 0);
        return truncation == 0 ? length : call.Wait(Truncate(file, 0), length);
    }

    /// <summary>
    /// Whether a fixed-size file can be truncated to <paramref name="size"/>: 1 when the rest must be zeroed
    /// (<see cref="Truncate"/>), 0 when nothing is to do, or a negative errno (growing is impossible).
    /// </summary>
    private static int CheckTruncate(FuseNode file, ulong size)
    {
        long capacity = file.Device.Size;
        if (size > (ulong)capacity)
        {
            return -Libc.EFBIG;
        }

        if (size == (ulong)capacity)
        {
            return 0;
        }

        return file.ReadOnly ? -Libc.EROFS : 1;
    }

    /// <summary>Truncates a fixed-size file to <paramref name="size"/>: zeroes the rest, after <see cref="CheckTruncate"/> said 1.</summary>
    private static ValueTask<BlockStatus> Truncate(FuseNode file, ulong size)
    {
        long capacity = file.Device.Size;
        return file.Device.ZeroBytesStatusAsync((long)size, capacity - (long)size, mayUnmap: true);
    }

    private static int OpenReply(Span<byte> body, uint flags)
    {
        var reply = new FuseOpenOut { OpenFlags = flags };
        MemoryMarshal.Write(body, in reply);
        return Marshal.SizeOf<FuseOpenOut>();
    }

    private int Read(FuseCall call, ulong node, ReadOnlySpan<byte> args, Memory<byte> body)
    {
        if (FileNode(node) is not { } file)
        {
            return -Libc.EISDIR;
        }

        FuseIoIn read = MemoryMarshal.Read<FuseIoIn>(args);
        ExportTarget target = file.Export.Target;
        long size = target.Device.Size;
        if (read.Offset >= (ulong)size)
        {
            return 0; // at or past the end: end of file
        }

        int count = (int)Math.Min(Math.Min(read.Size, MaxTransfer), size - (long)read.Offset);
        Memory<byte> data = body[..count];

        // The reply buffer is this worker's (or ring entry's) for every file: it holds the last reply's data, maybe
        // another file's.
        target.PrepareReadBuffer(data.Span);
        return call.Wait(target.Device.ReadBytesStatusAsync((long)read.Offset, data), count);
    }

    private int Write(FuseCall call, ulong node, ReadOnlySpan<byte> args, ReadOnlyMemory<byte> data, Span<byte> body)
    {
        if (FileNode(node) is not { } file)
        {
            return -Libc.EISDIR;
        }

        ExportTarget target = file.Export.Target;
        if (target.IsReadOnly)
        {
            return -Libc.EROFS;
        }

        FuseIoIn write = MemoryMarshal.Read<FuseIoIn>(args);
        if (write.Size > data.Length)
        {
            return -Libc.EINVAL;
        }

        // As a block device does: a write that starts at the end finds no space, one that crosses it is cut short.
        long size = target.Device.Size;
        if (write.Offset >= (ulong)size)
        {
            return write.Size == 0 ? FuseCall.WriteReply(body, 0) : -Libc.ENOSPC;
        }

        // The data may lie where the reply goes (an io_uring entry's payload): the reply is written after the IO.
        int count = (int)Math.Min(write.Size, size - (long)write.Offset);
        file.NoteModified();
        return call.WaitWrite(target.Device.WriteBytesStatusAsync((long)write.Offset, data[..count]), body, count);
    }

    private int Fsync(FuseCall call, ulong node)
    {
        return FileNode(node) is { } file ? call.Wait(file.Device.FlushStatusAsync(), 0) : 0;
    }

    /// <summary>
    /// <c>lseek(SEEK_DATA / SEEK_HOLE)</c> on the file (the kernel answers the other kinds itself): from the disk's
    /// allocation (<see cref="Disk.Allocation"/>, what NBD's <c>base:allocation</c> reports), so <c>cp --sparse</c>,
    /// <c>qemu-img</c> and <c>tar --sparse</c> skip the holes of a disk served as a file. A disk that cannot tell is
    /// all data, with its one hole at the end of the file, as a file system without the two says.
    /// </summary>
    /// <remarks>A source that answers asynchronously (a remote map) is waited for: like NBD's block status, a rare
    /// control request.</remarks>
    private int Lseek(ulong node, ReadOnlySpan<byte> args, Span<byte> body)
    {
        if (FileNode(node) is not { } file)
        {
            return -Libc.EINVAL;
        }

        FuseLseekIn seek = MemoryMarshal.Read<FuseLseekIn>(args);
        if (seek.Whence is not (SeekData or SeekHole))
        {
            return -Libc.EINVAL;
        }

        ExportTarget target = file.Export.Target;
        long size = target.Device.Size;
        if (seek.Offset >= (ulong)size)
        {
            return -Libc.ENXIO;
        }

        bool wantData = seek.Whence == SeekData;
        long position = (long)seek.Offset;
        IAllocationSource? allocation = target.Disk.Allocation;
        while (allocation is not null && position < size)
        {
            ValueTask<AllocationExtent> pending = allocation.GetExtentAsync(position, size - position);
            AllocationExtent extent = pending.IsCompletedSuccessfully ? pending.Result : pending.AsTask().GetAwaiter().GetResult();
            if (extent.Allocated == wantData)
            {
                break;
            }

            position += Math.Clamp(extent.Length, 1, size - position);
        }

        if (allocation is null)
        {
            position = wantData ? position : size;
        }

        if (position >= size && wantData)
        {
            return -Libc.ENXIO;
        }

        MemoryMarshal.Write(body, (ulong)Math.Min(position, size));
        return sizeof(ulong);
    }

    private int Fallocate(FuseCall call, ulong node, ReadOnlySpan<byte> args)
    {
        if (FileNode(node) is not { } file)
        {
            return -Libc.EISDIR;
        }

        FuseFallocateIn allocate = MemoryMarshal.Read<FuseFallocateIn>(args);
        long size = file.Device.Size;
        bool keepSize = (allocate.Mode & FuseProtocol.FallocKeepSize) != 0;

        // A range that ends past the file grows it, impossible for a disk (EFBIG, nothing done), unless the size is
        // kept: then the part inside the file is served, as a file system does (fallocate -p -l 1T punches to the end).
        // The kernel has refused a range whose end overflows.
        bool grows = !keepSize && allocate.Offset + allocate.Length > (ulong)size;
        long offset = (long)Math.Min(allocate.Offset, (ulong)size);
        long length = (long)Math.Min(allocate.Length, (ulong)(size - offset));
        switch (allocate.Mode & ~FuseProtocol.FallocKeepSize)
        {
            case 0:
                // Preallocation: a disk's every byte exists already.
                return grows ? -Libc.EFBIG : 0;

            case FuseProtocol.FallocPunchHole when keepSize:
                if (file.ReadOnly)
                {
                    return -Libc.EROFS;
                }

                return ZeroRange(call, file, offset, length, mayUnmap: true);

            case FuseProtocol.FallocZeroRange:
                if (file.ReadOnly || grows)
                {
                    return file.ReadOnly ? -Libc.EROFS : -Libc.EFBIG;
                }

                return ZeroRange(call, file, offset, length, mayUnmap: false);

            default:
                // Collapse, insert, unshare, or a hole punched without KEEP_SIZE (which fallocate(2) refuses too).
                return -Libc.EOPNOTSUPP;
        }
    }

    /// <summary>Zeroes (or punches, <paramref name="mayUnmap"/>) a range of the file's disk; an empty range does nothing.</summary>
    private static int ZeroRange(FuseCall call, FuseNode file, long offset, long length, bool mayUnmap)
    {
        if (length == 0)
        {
            return 0;
        }

        file.NoteModified();
        return call.Wait(file.Device.ZeroBytesStatusAsync(offset, length, mayUnmap), 0);
    }

    private int StatFs(Span<byte> body)
    {
        // One block size for the file system: the largest of its disks'; the blocks are all theirs, none free.
        uint blockSize = 512;
        foreach (FuseNode node in _nodes)
        {
            blockSize = Math.Max(blockSize, (uint)node.Device.PhysicalBlockSize);
        }

        ulong blocks = 0;
        foreach (FuseNode node in _nodes)
        {
            blocks += (ulong)node.Device.Size / blockSize;
        }

        var reply = new FuseStatFsOut
        {
            Blocks = blocks,
            Files = (ulong)_nodes.Length + 1,
            BlockSize = blockSize,
            FragmentSize = blockSize,
            NameLength = 255,
        };
        MemoryMarshal.Write(body, in reply);
        return Marshal.SizeOf<FuseStatFsOut>();
    }

    private int ReadDir(ulong node, ReadOnlySpan<byte> args, Span<byte> body)
    {
        if (node != FuseProtocol.RootNodeId)
        {
            return -Libc.ENOTDIR;
        }

        // ".", "..", then the files; a directory offset is the index of the next entry.
        FuseIoIn read = MemoryMarshal.Read<FuseIoIn>(args);
        int limit = (int)Math.Min(read.Size, (uint)body.Length);
        int used = 0;
        for (ulong index = read.Offset; index < 2 + (ulong)_nodes.Length; index++)
        {
            FuseNode? file = index >= 2 ? _nodes[index - 2] : null;
            ReadOnlySpan<byte> name = index switch { 0 => "."u8, 1 => ".."u8, _ => file!.NameUtf8 };
            int recordLength = (Marshal.SizeOf<FuseDirent>() + name.Length + 7) & ~7;
            if (used + recordLength > limit)
            {
                break;
            }

            var dirent = new FuseDirent
            {
                Ino = file?.Id ?? FuseProtocol.RootNodeId,
                Offset = index + 1,
                NameLength = (uint)name.Length,
                Type = file is null ? FuseProtocol.DirentTypeDirectory : FuseProtocol.DirentTypeRegular,
            };
            Span<byte> record = body.Slice(used, recordLength);
            record.Clear();
            MemoryMarshal.Write(record, in dirent);
            name.CopyTo(record[Marshal.SizeOf<FuseDirent>()..]);
            used += recordLength;
        }

        return used;
    }

    private int AttrReply(ulong node, Span<byte> body)
    {
        var reply = new FuseAttrOut { AttrValid = AttributeValidSeconds, Attr = FileNode(node)?.Attributes() ?? RootAttributes() };
        MemoryMarshal.Write(body, in reply);
        return Marshal.SizeOf<FuseAttrOut>();
    }

    private FuseNode? FileNode(ulong node)
    {
        ulong index = node - FirstFileNodeId;
        return node >= FirstFileNodeId && index < (ulong)_nodes.Length ? _nodes[index] : null;
    }

    private FuseAttr RootAttributes() => new()
    {
        Ino = FuseProtocol.RootNodeId,
        Atime = _mounted.Seconds,
        AtimeNsec = _mounted.Nanoseconds,
        Mtime = _mounted.Seconds,
        MtimeNsec = _mounted.Nanoseconds,
        Ctime = _mounted.Seconds,
        CtimeNsec = _mounted.Nanoseconds,
        Mode = FuseProtocol.ModeDirectory | 0x1EDu, // 0755
        Nlink = 2,
        Uid = _uid,
        Gid = _gid,
        BlockSize = 4096,
    };
}
