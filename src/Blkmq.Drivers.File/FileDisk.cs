using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Blkmq.Drivers.File.Interop;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Blkmq.Drivers.File;

/// <summary>
/// The file driver's per-disk data: the open, locked file or block device behind a disk, what it is (size, block
/// sizes, read-only, direct IO alignment) and the engine that moves its data. Owned by <see cref="FileBlock"/>,
/// which closes it after the disk is removed.
/// </summary>
public sealed unsafe class FileDisk : IDisposable
{
    /// <summary>The logical block size of a regular file's disk; a file <c>create=</c> makes is a whole number of them.</summary>
    internal const int RegularFileBlockSize = 512;

    private int _fd;
    private volatile bool _mayHaveHoles;
    private volatile bool _noWaitUnsupported;
    private int _directFd;
    private bool _inlineWrites;

    private FileDisk(string name, string path, ILogger logger)
    {
        Name = name;
        Path = path;
        Logger = logger;
        _fd = -1;
        _directFd = -1;
    }

    /// <summary>Gets the disk's name.</summary>
    public string Name { get; }

    /// <summary>Gets the path that was opened.</summary>
    public string Path { get; }

    /// <summary>Gets whether this disk created its file (<c>create=</c> and no file was there).</summary>
    public bool Created { get; private set; }

    /// <summary>Gets whether the path is a block device (else a regular file).</summary>
    public bool IsBlockDevice { get; private set; }

    /// <summary>Gets whether the disk refuses writes (asked for, or the file or its file system is read-only).</summary>
    public bool ReadOnly { get; private set; }

    /// <summary>
    /// Gets whether the block device says it is rotational (its queue's <c>rotational</c> in sysfs, a partition's
    /// from its disk); false for a regular file and when sysfs cannot tell.
    /// </summary>
    public bool Rotational { get; private set; }

    /// <summary>
    /// Gets whether the file may have holes: it had fewer blocks than its size when opened (a sparse image), or
    /// this disk has since discarded or zeroed a range. While false, the allocation map answers "data" without a
    /// system call: the NBD server asks it on every read, and <c>SEEK_HOLE</c> on a fully written tmpfs file walks
    /// every page to the end of the file.
    /// </summary>
    internal bool MayHaveHoles => _mayHaveHoles;

    /// <summary>Gets the file's or device's size in bytes.</summary>
    public long Size { get; private set; }

    /// <summary>Gets the capacity served: <see cref="Size"/> rounded down to whole logical blocks.</summary>
    public long Capacity => Size / LogicalBlockSize * LogicalBlockSize;

    /// <summary>Gets the logical block size: the device's, or <see cref="RegularFileBlockSize"/> for a regular file.</summary>
    public int LogicalBlockSize { get; private set; } = RegularFileBlockSize;

    /// <summary>Gets the physical block size: the device's, or the file system's preferred IO size (512 or 4096).</summary>
    public int PhysicalBlockSize { get; private set; } = 512;

    /// <summary>Gets whether a descriptor opened with <c>O_DIRECT</c> serves aligned IO.</summary>
    public bool Direct => _directFd >= 0;

    /// <summary>Gets the engine that runs.</summary>
    public FileEngine Engine { get; internal set; }

    internal ILogger Logger { get; }

    /// <summary>Gets the buffered descriptor (the locked one): flushes, discards, unaligned IO.</summary>
    internal int Fd => _fd;

    /// <summary>Gets the <c>O_DIRECT</c> descriptor, or -1.</summary>
    internal int DirectFd => _directFd;

    /// <summary>Gets the memory alignment direct IO needs of every buffer address and length.</summary>
    internal int DirectMemoryAlign { get; private set; } = 512;

    /// <summary>Gets the alignment direct IO needs of the offset and length.</summary>
    internal int DirectOffsetAlign { get; private set; } = 512;

    /// <summary>Gets the worker threads per hardware queue of the threads engine.</summary>
    internal int Threads { get; private set; } = 4;

    /// <summary>Gets where the io_uring engine runs submitters' continuations (<c>inline=</c>).</summary>
    internal FileInlineMode InlineMode { get; private set; }

    /// <summary>Gets how long the io_uring engine's ring thread polls for the next request before it sleeps (<c>spin=</c>).</summary>
    internal int SpinMicroseconds { get; private set; }

    /// <summary>Gets the tag set, set once the disk's tag set exists; completions look requests up in it by token.</summary>
    internal TagSet<FileDriver, FileRequest, FileHwQueue, FileDisk> TagSet { get; set; } = null!;

    /// <summary>Gets the hardware queues by index, filled by <c>InitHctx</c>, for the <c>Timeout</c> callback.</summary>
    internal FileHwQueue?[] HwQueues { get; set; } = [];

    /// <summary>Opens, sizes and locks the file of <paramref name="options"/>.</summary>
    /// <param name="options">The parameters.</param>
    /// <returns>The open disk data; dispose it to close the file.</returns>
    /// <exception cref="IOException">The file is missing, unreadable, locked, or not a file or block device; the message is one line naming it.</exception>
    internal static FileDisk Open(FileDriverOptions options)
    {
        ILogger logger = options.LoggerFactory?.CreateLogger("Blkmq.Drivers.File") ?? NullLogger.Instance;
        string path = System.IO.Path.GetFullPath(options.Path);
        var disk = new FileDisk(options.Name, path, logger) { Threads = options.Threads, InlineMode = options.InlineMode, SpinMicroseconds = options.SpinMicroseconds, _inlineWrites = options.InlineWrites };
        try
        {
            disk.OpenCore(options);
        }
        catch
        {
            disk.DisposeFailed();
            throw;
        }

        return disk;
    }

    /// <summary>
    /// Closes a disk whose start failed and deletes its file if it created it (<c>create=</c>): the caller never got
    /// an instance that could name the file, and the same command run again would otherwise find it and serve zeros.
    /// </summary>
    internal void DisposeFailed()
    {
        Dispose();
        if (Created)
        {
            DeleteCreated(Path);
        }
    }

    /// <summary>Picks the descriptor for a data transfer: the direct one when every address, length and the offset are aligned.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal int SelectFd(IoVec* iov, int count, long offset)
    {
        if (_directFd < 0 || (offset & (DirectOffsetAlign - 1)) != 0)
        {
            return _fd;
        }

        int memoryMask = DirectMemoryAlign - 1;
        int lengthMask = Math.Max(DirectMemoryAlign, DirectOffsetAlign) - 1;
        for (int i = 0; i < count; i++)
        {
            if (((nint)iov[i].Base & memoryMask) != 0 || ((int)iov[i].Length & lengthMask) != 0)
            {
                return _fd;
            }
        }

        return _directFd;
    }

    /// <summary>Gets whether reads try the page cache inside <c>QueueRq</c> first (<see cref="FileIo.TryTransferInline"/>).</summary>
    internal bool TriesCachedReads => !_noWaitUnsupported && !IsBlockDevice;

    /// <summary>
    /// Gets whether the file lives on tmpfs, whose pages are memory: a read or a write there never waits for a
    /// device, so both are done inside <c>QueueRq</c> (<see cref="FileIo.TryTransferInline"/>), as nbdkit's file
    /// plugin does them on its connection thread; io_uring would only hand them to its worker threads.
    /// </summary>
    internal bool InMemory { get; private set; }

    /// <summary>
    /// Gets the image format whose header the file starts with (<c>qcow2</c>, <c>vmdk</c>, ...; <see cref="ImageFormats.Probe"/>),
    /// or <see langword="null"/> for anything else. The driver serves the bytes as they are whatever this says, as
    /// nbdkit's file plugin does; it is for the warning at start, since a client then sees the container, not the disk.
    /// </summary>
    public string? ImageFormat { get; private set; }

    /// <summary>
    /// Gets the <c>preadv2</c> flags of a cached read: <c>RWF_NOWAIT</c>, or none on tmpfs (<see cref="InMemory"/>),
    /// which refuses <c>RWF_NOWAIT</c> with EOPNOTSUPP.
    /// </summary>
    internal int CachedReadFlags => InMemory ? 0 : Libc.RwfNowait;

    /// <summary>
    /// Gets how the disk moves data, for the log line at open and the driver's summary: <c>O_DIRECT</c>, or buffered
    /// and what of it is done inside <c>QueueRq</c> (<see cref="TriesCachedReads"/>, <see cref="TriesInlineWrite"/>).
    /// </summary>
    internal string DataPath =>
        Direct ? "O_DIRECT"
        : IsBlockDevice ? "buffered"
        : $"buffered ({(InMemory ? "tmpfs: reads" : "cached reads")}{(_inlineWrites ? " and writes" : string.Empty)} inside QueueRq)";

    /// <summary>
    /// Gets whether a one-segment write with <paramref name="flags"/> is tried inside <c>QueueRq</c>
    /// (<see cref="FileIo.TryTransferInline"/>, which also leaves it to the engine when it would go to the
    /// <c>O_DIRECT</c> descriptor): on a regular file a buffered write only copies into the page cache, which is
    /// what nbdkit's file plugin does on its connection thread, where the engine would add a hand-off (io_uring
    /// punts a buffered write that a file system such as ext4 cannot do without blocking to an io-wq worker, one
    /// per file, so they also queue behind each other). A FUA write waits for the device unless the file is on
    /// tmpfs (<see cref="InMemory"/>), so it is left to the engine; a block device's writes always are, and every
    /// write with <c>writes=engine</c>.
    /// </summary>
    internal bool TriesInlineWrite(RequestFlags flags) => _inlineWrites && (InMemory || (!IsBlockDevice && (flags & RequestFlags.Fua) == 0));

    /// <summary>Stops cached reads inside <c>QueueRq</c>: <c>RWF_NOWAIT</c> is not supported here.</summary>
    internal void NoteNoWaitUnsupported() => _noWaitUnsupported = true;

    /// <summary>Notes that a discard or write zeroes may punch a hole; called before the operation starts.</summary>
    internal void NoteHoles()
    {
        if (!_mayHaveHoles)
        {
            _mayHaveHoles = true;
        }
    }

    /// <summary>Closes the descriptors (and so drops the lock); the disk must be removed first.</summary>
    public void Dispose()
    {
        if (_directFd >= 0)
        {
            _ = Libc.Close(_directFd);
            _directFd = -1;
        }

        if (_fd >= 0)
        {
            // Unlock explicitly: a ring being torn down by the kernel may still hold a reference to the file, and
            // the lock would live on with it.
            _ = Libc.Flock(_fd, Libc.LockUn);
            UnlockQemuBytes();
            _ = Libc.Close(_fd);
            _fd = -1;
        }
    }

    /// <summary>
    /// Takes the byte-range locks qemu takes on an image it opens (<c>block/file-posix.c</c>: open-file-description
    /// read locks on byte 100 + i for each permission i it holds, 0 consistent read and 1 write, and on byte 200 + i
    /// for each it does not let others have), so that a VM, <c>qemu-nbd</c> or <c>qemu-io</c> and this server
    /// refuse each other as two qemu processes would, where <c>flock</c> alone is invisible to qemu. A writer holds
    /// read and write and shares neither writing nor anything that conflicts with it; a reader (<c>readonly=1</c>)
    /// holds read and does not share writing, as qemu's read-only opens do. A file system without these locks (the
    /// call fails with EINVAL or ENOLCK) is served without them.
    /// </summary>
    /// <exception cref="IOException">Another program holds a conflicting lock; the message is one line naming the image.</exception>
    private void LockLikeQemu(string path, bool readOnly)
    {
        const int PermBase = 100;
        const int SharedBase = 200;
        const int Read = 0;
        const int Write = 1;

        // Someone who does not share what we use (200 + our permission), or who holds what we do not share (100 + it).
        ReadOnlySpan<int> conflicts = readOnly ? [SharedBase + Read, PermBase + Write] : [SharedBase + Read, SharedBase + Write, PermBase + Write];
        foreach (int offset in conflicts)
        {
            FileRangeLock probe = new() { Type = Libc.FWrLck, Start = offset, Length = 1 };
            if (Libc.FcntlLock(_fd, Libc.FOfdGetLk, &probe) != 0)
            {
                return; // No open-file-description locks here (EINVAL, ENOLCK): nothing to coordinate with.
            }

            if (probe.Type != Libc.FUnLck)
            {
                string what = offset switch
                {
                    PermBase + Write => "writes it",
                    SharedBase + Read => "does not let others read it",
                    _ => "does not let others write it",
                };
                throw new IOException($"{path}: in use by a program that locks images as qemu does (a VM, qemu-nbd, qemu-storage-daemon), which {what}; stop it first.");
            }
        }

        ReadOnlySpan<int> held = readOnly ? [PermBase + Read, SharedBase + Write] : [PermBase + Read, PermBase + Write, SharedBase + Write];
        foreach (int offset in held)
        {
            FileRangeLock hold = new() { Type = Libc.FRdLck, Start = offset, Length = 1 };
            if (Libc.FcntlLock(_fd, Libc.FOfdSetLk, &hold) != 0 && Marshal.GetLastPInvokeError() == Errno.EAGAIN)
            {
                UnlockQemuBytes();
                throw new IOException($"{path}: in use by a program that locks images as qemu does (a VM, qemu-nbd, qemu-storage-daemon); stop it first.");
            }
        }
    }

    // Dropped explicitly, as the flock: a ring the kernel is still tearing down may hold the file open.
    private void UnlockQemuBytes()
    {
        FileRangeLock all = new() { Type = Libc.FUnLck };
        _ = Libc.FcntlLock(_fd, Libc.FOfdSetLk, &all);
    }

    private static void DeleteCreated(string path)
    {
        try
        {
            System.IO.File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Best effort: the error that follows says why the file is unusable.
        }
    }

    /// <summary>
    /// Reads <c>queue/rotational</c> of block device <paramref name="major"/>:<paramref name="minor"/> from sysfs:
    /// <c>/sys/dev/block/MAJ:MIN</c> links to the device's directory, which for a partition (it has a <c>partition</c>
    /// file and no queue) sits in its disk's. False when sysfs is missing or cannot tell.
    /// </summary>
    internal static bool ReadRotational(uint major, uint minor)
    {
        try
        {
            string link = FormattableString.Invariant($"/sys/dev/block/{major}:{minor}");
            string device = Directory.ResolveLinkTarget(link, returnFinalTarget: true)?.FullName ?? link;
            string queue = System.IO.File.Exists(System.IO.Path.Combine(device, "partition"))
                ? System.IO.Path.Combine(System.IO.Path.GetDirectoryName(device)!, "queue", "rotational")
                : System.IO.Path.Combine(device, "queue", "rotational");
            return System.IO.File.ReadAllText(queue).Trim() == "1";
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>
    /// Refuses a path that is neither a regular file nor a block device by what it is, before anything opens it:
    /// <c>open(2)</c> of a FIFO for reading waits for a writer, for ever at a server's start; a directory, socket or
    /// character device is no disk either. A path that cannot be looked at is left to <c>open</c>, which says why.
    /// </summary>
    /// <exception cref="IOException">The path is something else; the message is one line naming it and what it is.</exception>
    private static void RefuseWhatIsNoDisk(string path)
    {
        Statx stat;
        if (Libc.StatxCall(Libc.AtFdcwd, path, 0, Libc.StatxType, &stat) == 0 && (stat.Mask & Libc.StatxType) != 0
            && (stat.Mode & Libc.SIfmt) is int type && type is not (Libc.SIfreg or Libc.SIfblk))
        {
            throw NoDisk(path, type);
        }
    }

    private static IOException NoDisk(string path, int type)
    {
        string? what = type switch
        {
            Libc.SIfifo => "a FIFO",
            Libc.SIfdir => "a directory",
            Libc.SIfchr => "a character device",
            Libc.SIfsock => "a socket",
            _ => null,
        };
        return new IOException(what is null ? $"{path}: not a regular file or block device." : $"{path} is {what}, not a regular file or block device.");
    }

    private static IOException Fail(string path, string what, int errno) =>
        new($"{path}: {what} ({Marshal.GetPInvokeErrorMessage(errno)}).");

    private void OpenCore(FileDriverOptions options)
    {
        string path = Path;
        bool readOnly = options.ReadOnly;
        if (options.CreateSize is long createSize && !readOnly)
        {
            int created = Libc.Open(path, Libc.ORdWr | Libc.OCreat | Libc.OExcl | Libc.OCloexec, Convert.ToInt32("644", 8));
            if (created >= 0)
            {
                int truncated = Libc.Ftruncate(created, createSize);
                int errno = Marshal.GetLastPInvokeError();
                _ = Libc.Close(created);
                if (truncated != 0)
                {
                    // The file is ours (O_EXCL): leave nothing behind, or the same command would serve it empty next time.
                    DeleteCreated(path);
                    throw Fail(path, $"cannot size the new file to {createSize} bytes", errno);
                }

                Created = true;
            }
            else if (Marshal.GetLastPInvokeError() is int errno && errno != Errno.EEXIST)
            {
                throw Fail(path, "cannot create the file", errno);
            }
        }

        RefuseWhatIsNoDisk(path);
        _fd = Libc.Open(path, (readOnly ? Libc.ORdOnly : Libc.ORdWr) | Libc.OCloexec, 0);
        if (_fd < 0 && !readOnly && Marshal.GetLastPInvokeError() is int writeErrno && writeErrno is Errno.EACCES or Errno.EROFS or Errno.EPERM)
        {
            _fd = Libc.Open(path, Libc.ORdOnly | Libc.OCloexec, 0);
            if (_fd >= 0)
            {
                readOnly = true;
                FileLog.ReadOnlyFallback(Logger, Name, path, writeErrno);
            }
        }

        if (_fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw errno == Errno.ENOENT
                ? new IOException($"{path}: no such file (create=SIZE makes a sparse one).")
                : Fail(path, "cannot open", errno);
        }

        Statx stat;
        if (Libc.StatxCall(_fd, string.Empty, Libc.AtEmptyPath, Libc.StatxBasicStats | Libc.StatxDioAlign, &stat) != 0)
        {
            throw Fail(path, "cannot stat", Marshal.GetLastPInvokeError());
        }

        int type = stat.Mode & Libc.SIfmt;
        if (type is not (Libc.SIfreg or Libc.SIfblk))
        {
            // Replaced since RefuseWhatIsNoDisk looked at it.
            throw NoDisk(path, type);
        }

        IsBlockDevice = type == Libc.SIfblk;
        if (!IsBlockDevice && !readOnly && (stat.Mode & Convert.ToInt32("222", 8)) == 0)
        {
            // Root opens a file without write permission for writing anyway; serve it as the file says.
            readOnly = true;
            FileLog.ReadOnlyFallback(Logger, Name, path, Errno.EACCES);
        }

        if (IsBlockDevice && !readOnly)
        {
            // A block device written under a mounted file system (or by two owners) is corrupted: a writer claims it
            // with O_EXCL, which Linux refuses with EBUSY while a file system, device mapper, md, swap or another
            // exclusive opener (another blkmq) holds it. Readers stay non-exclusive.
            int exclusive = Libc.Open(path, Libc.ORdWr | Libc.OExcl | Libc.OCloexec, 0);
            if (exclusive < 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                throw errno == Errno.EBUSY
                    ? new IOException($"{path} is in use (mounted or held by another program): serve it with readonly=1, or unmount it first.")
                    : Fail(path, "cannot open exclusively", errno);
            }

            _ = Libc.Close(_fd);
            _fd = exclusive;
        }

        // Two servers must not write one image: exclusive for a writer, shared for readers (as qemu does with OFD locks).
        if (Libc.Flock(_fd, (readOnly ? Libc.LockSh : Libc.LockEx) | Libc.LockNb) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw errno == Errno.EAGAIN
                ? new IOException($"{path}: locked by another server or another export of this one (one writer per image; readers share it with readonly=1).")
                : Fail(path, "cannot lock", errno);
        }

        LockLikeQemu(path, readOnly);

        if (IsBlockDevice)
        {
            ulong bytes;
            int logical;
            int physical;
            int ro = 0;
            if (Libc.Ioctl(_fd, Libc.BlkGetSize64, &bytes) != 0 || Libc.Ioctl(_fd, Libc.BlkSszGet, &logical) != 0)
            {
                throw Fail(path, "cannot size the block device", Marshal.GetLastPInvokeError());
            }

            if (Libc.Ioctl(_fd, Libc.BlkPbszGet, &physical) != 0)
            {
                physical = logical;
            }

            if (Libc.Ioctl(_fd, Libc.BlkRoGet, &ro) == 0 && ro != 0)
            {
                readOnly = true;
            }

            Size = (long)bytes;
            Rotational = ReadRotational(stat.RdevMajor, stat.RdevMinor);
            LogicalBlockSize = logical;
            PhysicalBlockSize = Math.Clamp(physical, logical, 65536);
            DirectMemoryAlign = logical;
            DirectOffsetAlign = logical;
        }
        else
        {
            Size = (long)stat.Size;
            PhysicalBlockSize = stat.BlockSize >= 4096 ? 4096 : 512;
            if ((stat.Mask & Libc.StatxDioAlign) != 0 && stat.DioOffsetAlign != 0)
            {
                DirectMemoryAlign = (int)Math.Max(stat.DioMemoryAlign, 1);
                DirectOffsetAlign = (int)stat.DioOffsetAlign;
            }
        }

        ReadOnly = readOnly;
        _mayHaveHoles = !IsBlockDevice && (long)stat.Blocks * 512 < (long)stat.Size;
        byte* statfs = stackalloc byte[256];
        if (!IsBlockDevice && Libc.Fstatfs(_fd, statfs) == 0 && *(long*)statfs == Libc.TmpfsMagic)
        {
            InMemory = true;
        }
        if (Capacity == 0)
        {
            // A 0-byte export is no disk a client can use (nbdkit's file plugin refuses an empty file too).
            throw new IOException(Size == 0
                ? $"{path} is empty: nothing to serve (create=SIZE makes a sparse file of that size)."
                : $"{path}: {Size} bytes, less than one {LogicalBlockSize}-byte block: nothing to serve.");
        }

        ImageFormat = ProbeFormat();
        if (Size % LogicalBlockSize != 0)
        {
            FileLog.TailIgnored(Logger, Name, path, Size, LogicalBlockSize, Size % LogicalBlockSize);
        }

        OpenDirect(options.Direct, readOnly, (stat.Mask & Libc.StatxDioAlign) != 0 && stat.DioOffsetAlign != 0);
    }

    private string? ProbeFormat()
    {
        byte* header = stackalloc byte[ImageFormats.HeaderBytes];
        IoVec iov = new() { Base = (nint)header, Length = ImageFormats.HeaderBytes };
        nint read = Libc.Preadv2(_fd, &iov, 1, 0, 0);
        return read > 0 ? ImageFormats.Probe(new ReadOnlySpan<byte>(header, (int)read)) : null;
    }

    private void OpenDirect(DirectIoMode mode, bool readOnly, bool fileSystemSupportsDirect)
    {
        if (mode == DirectIoMode.Off || (mode == DirectIoMode.Auto && !IsBlockDevice && !fileSystemSupportsDirect))
        {
            return;
        }

        _directFd = Libc.Open(Path, (readOnly ? Libc.ORdOnly : Libc.ORdWr) | Libc.ODirect | Libc.OCloexec, 0);
        if (_directFd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (mode == DirectIoMode.On)
            {
                throw Fail(Path, "cannot open with O_DIRECT (direct=on)", errno);
            }

            // tmpfs before 6.6 and some FUSE file systems refuse O_DIRECT with EINVAL: buffered IO it is.
            FileLog.DirectUnsupported(Logger, Name, Path, errno);
        }
    }
}
