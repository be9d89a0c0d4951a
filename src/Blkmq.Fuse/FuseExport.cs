using System.Globalization;
using System.Runtime.InteropServices;
using Blkmq.Fuse.Interop;
using Blkmq.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Blkmq.Fuse;

/// <summary>
/// Serves <see cref="Disk"/>s as regular files of a FUSE file system (the kernel's FUSE protocol on
/// <c>/dev/fuse</c>, spoken directly): <c>MOUNTPOINT/NAME</c> is as large as its disk, reads and writes of any offset
/// and length reach it (partial blocks by read-modify-write), <c>fsync</c> flushes it and <c>fallocate</c> punches
/// or zeroes ranges. <c>losetup</c> turns such a file into a real <c>/dev/loopN</c>.
/// </summary>
/// <remarks>
/// As root the export mounts with <c>mount(2)</c>; otherwise through <c>fusermount3</c> (with <c>auto_unmount</c>, so a
/// killed server leaves no mount). A file's size is its disk's: truncating it to N (<c>ftruncate</c>, an
/// <c>O_TRUNC</c> open) zeroes everything from N on and keeps the size; it cannot grow; nothing can be created in
/// the mount. Dispose unmounts (a
/// loop device that still has a file open keeps being served for up to <see cref="FuseExportOptions.UnmountTimeout"/>,
/// then the connection is aborted), then waits for the worker threads; no disk IO is started after it returns.
/// </remarks>
public sealed class FuseExport : IAsyncDisposable
{
    private readonly FuseSession _session;
    private readonly ILogger _logger;
    private readonly string _mountPoint;
    private readonly TimeSpan _unmountTimeout;
    private readonly string? _connection; // found while mounted: an unmount takes the mount out of the table
    private readonly Fusermount? _helper; // mounted by fusermount3 (not root): it unmounts
    private int _disposed;
    private volatile bool _stopWaiting;

    private FuseExport(FuseSession session, string mountPoint, IReadOnlyList<FuseFile> files, ILogger logger, TimeSpan unmountTimeout, FrontendCounters counters, Fusermount? helper)
    {
        _session = session;
        Counters = counters;
        _helper = helper;
        _connection = FuseConnections.Find(mountPoint);
        _mountPoint = mountPoint;
        _logger = logger;
        _unmountTimeout = unmountTimeout;
        FilePaths = [.. files.Select(file => Path.Combine(mountPoint, file.Name))];
    }

    /// <summary>Gets the paths of the files, in the order of <see cref="FuseExportOptions.Files"/>.</summary>
    public IReadOnlyList<string> FilePaths { get; }

    /// <summary>Gets the mount point.</summary>
    public string MountPoint => _mountPoint;

    /// <summary>Gets whether the kernel sends this export's requests over io_uring (known when <see cref="Mount"/> returns).</summary>
    public bool UsesIoUring => _session.Ready is { IsCompletedSuccessfully: true, Result: true };

    /// <summary>Gets how many requests the io_uring queues have served: the proof that they do.</summary>
    internal long RingRequests => _session.RingRequests;

    /// <summary>Gets a task that completes when the file system is gone: unmounted by this export or by anyone else.</summary>
    public Task Completion => _session.Completion;

    /// <summary>Gets the export's front-end counters (<c>frontend=fuse</c> on <see cref="BlkmqMeter"/>): the mount, requests, bytes.</summary>
    public FrontendCounters Counters { get; }

    /// <summary>Mounts a FUSE file system at <see cref="FuseExportOptions.MountPoint"/> with one file per disk.</summary>
    /// <param name="options">Where, which disks (they must outlive the export) and how.</param>
    /// <returns>The mounted export; dispose it to unmount.</returns>
    /// <exception cref="PlatformNotSupportedException">Not Linux.</exception>
    /// <exception cref="ArgumentException">The options are invalid.</exception>
    /// <exception cref="IOException">
    /// The FUSE device cannot be opened, the mount fails (for example without root), or a live Blkmq mount is at the
    /// mount point already (the message names its server's pid). A dead one, left by a killed server, is detached first.
    /// </exception>
    public static FuseExport Mount(FuseExportOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("The FUSE export needs Linux.");
        }

        if (options.Files is null || options.Files.Count == 0)
        {
            throw new ArgumentException("The export needs at least one file.", nameof(options));
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (FuseFile file in options.Files)
        {
            string name = file.Name;
            if (name.Length == 0 || name is "." or ".." || name.Contains('/', StringComparison.Ordinal) || name.Contains('\0', StringComparison.Ordinal) || System.Text.Encoding.UTF8.GetByteCount(name) > 255)
            {
                throw new ArgumentException($"'{name}' is not a valid file name.", nameof(options));
            }

            if (!names.Add(name))
            {
                throw new ArgumentException($"Two files are named '{name}'.", nameof(options));
            }
        }

        if (options.Threads is < 1 or > 64)
        {
            throw new ArgumentException($"Threads must be 1 to 64, not {options.Threads}.", nameof(options));
        }

        if (options.RingDepth is < 1 or > 256)
        {
            throw new ArgumentException($"RingDepth must be 1 to 256, not {options.RingDepth}.", nameof(options));
        }

        FuseIoUringMode ioUring = options.IoUring;
        if (ioUring != FuseIoUringMode.Off && !FuseUring.IsEnabledInKernel())
        {
            if (ioUring == FuseIoUringMode.On)
            {
                throw new IOException($"FUSE over io_uring is off in this kernel ({FuseUring.EnableParameter} is not Y; as root: echo Y > {FuseUring.EnableParameter}), or the kernel is older than 6.14.");
            }

            ioUring = FuseIoUringMode.Off;
        }

        // The path the mount table will show, links resolved: the checks of a mount already there and the unmount look it
        // up there.
        string mountPoint = FuseMountPoint.Resolve(Path.TrimEndingDirectorySeparator(Path.GetFullPath(options.MountPoint)));
        ILogger logger = options.LoggerFactory?.CreateLogger("Blkmq.Fuse.FuseExport") ?? NullLogger.Instance;

        // A server killed without unmounting leaves a dead mount that hides the directory: take it away (never a live one).
        FuseMountPoint.Reclaim(mountPoint, logger);
        if (!Directory.Exists(mountPoint))
        {
            throw new ArgumentException($"The mount point {mountPoint} is not an existing directory.", nameof(options));
        }

        int fd;
        Fusermount? helper = null;
        if (Fusermount.IsNeeded)
        {
            // Not root: fusermount3 mounts and hands the descriptor over, and unmounts should this process die.
            bool allowOther = options.AllowOther && Fusermount.UsersMayAllowOther;
            if (options.AllowOther && !allowOther)
            {
                FuseLog.AllowOtherDropped(logger, mountPoint);
            }

            string helperOptions = string.Create(
                CultureInfo.InvariantCulture,
                $"rw,nosuid,nodev,fsname={FuseMountPoint.Source},subtype={FuseMountEntry.BlkmqSource},auto_unmount,default_permissions,max_read={FuseSession.MaxTransfer}{(allowOther ? ",allow_other" : "")}");
            helper = Fusermount.Mount(mountPoint, helperOptions, out fd);
        }
        else
        {
            fd = MountAsRoot(mountPoint, options.AllowOther);
        }

        var counters = new FrontendCounters("fuse");
        var session = new FuseSession(fd, options.Files, options.DirectIO, logger, counters, ioUring, options.RingDepth);
        session.Start(options.Threads);
        var export = new FuseExport(session, mountPoint, options.Files, logger, options.UnmountTimeout, counters, helper);

        // INIT comes at once (the kernel sent it while mounting); so does the ring registration after it. Waiting here
        // makes the transport known when Mount returns, and an io_uring that was required but failed an error.
        bool ready = session.Ready.Wait(TimeSpan.FromSeconds(10));
        if (ioUring == FuseIoUringMode.On && !(ready && session.Ready.Result))
        {
            export.DisposeAsync().AsTask().GetAwaiter().GetResult();
            throw new IOException($"FUSE over io_uring was required but the kernel did not take it on {mountPoint} (see the log); nothing stays mounted.");
        }

        for (int i = 0; i < options.Files.Count; i++)
        {
            FuseLog.Mounted(logger, export.FilePaths[i], options.Files[i].Name, options.Files[i].Disk.Name);
        }

        return export;
    }

    /// <summary>Opens <c>/dev/fuse</c> and mounts it with <c>mount(2)</c> (root); returns the descriptor.</summary>
    private static int MountAsRoot(string mountPoint, bool allowOther)
    {
        int fd = Libc.Open("/dev/fuse", Libc.OpenReadWrite | Libc.OpenCloseOnExec);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new IOException($"Cannot open /dev/fuse: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}).");
        }

        string data = string.Create(
            CultureInfo.InvariantCulture,
            $"fd={fd},rootmode=40000,user_id={Libc.GetEffectiveUserId()},group_id={Libc.GetEffectiveGroupId()},default_permissions,max_read={FuseSession.MaxTransfer}{(allowOther ? ",allow_other" : "")}");
        if (Libc.Mount(FuseMountPoint.Source, mountPoint, FuseMountEntry.BlkmqType, Libc.MountNoSuid | Libc.MountNoDev, data) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            _ = Libc.Close(fd);
            string hint = errno == Libc.EPERM ? " Mounting a FUSE file system needs root (CAP_SYS_ADMIN)." : "";
            throw new IOException($"Cannot mount FUSE on {mountPoint}: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}).{hint}");
        }

        return fd;
    }

    /// <summary>
    /// Serves another disk as the file <paramref name="fileName"/> from now on, as a null_blk device powered off and on
    /// again comes back as a new disk (the NBD server's <c>ReplaceDisk</c> does the same for its exports). Requests
    /// already running finish on the old disk; its size, if different, is the file's at the next attribute lookup.
    /// </summary>
    /// <param name="fileName">The file's name, as in <see cref="FuseFile.Name"/>.</param>
    /// <param name="disk">The disk to serve; the export does not own it.</param>
    /// <exception cref="ArgumentException">No file has that name.</exception>
    public void ReplaceDisk(string fileName, Disk disk)
    {
        ArgumentNullException.ThrowIfNull(fileName);
        ArgumentNullException.ThrowIfNull(disk);
        FuseNode node = _session.FindFile(fileName) ?? throw new ArgumentException($"No file is named '{fileName}'.", nameof(fileName));
        node.Export.ReplaceDisk(disk);
    }

    /// <summary>
    /// Ends a <see cref="DisposeAsync"/> that waits for an open file to be closed (or makes the next one not wait):
    /// it unmounts by force at once, as after the timeout. What a second SIGINT / SIGTERM of <c>blkmq serve</c> does.
    /// </summary>
    public void StopWaiting() => _stopWaiting = true;

    /// <summary>
    /// Unmounts the file system (lazily), waits up to <see cref="FuseExportOptions.UnmountTimeout"/> for the file to be
    /// closed, aborts the connection if it is still open, and waits for the worker threads.
    /// </summary>
    /// <returns>A task that completes when no worker runs any more.</returns>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // A plain unmount succeeds at once unless a file is open (EBUSY): then keep serving, so that a loop device on
        // the file does not fail under its user, and try again until the timeout. A mount someone else detached
        // (umount -l) lives on while its file is open just the same: then wait for the file to be closed, until the
        // timeout. Only this export's own mount is ever unmounted, never another that is on the directory now (a new
        // server's, after a umount -l). A forced unmount then aborts the connection (the kernel's umount_begin), and
        // every blocked read of the device returns ENODEV.
        long deadline = Environment.TickCount64 + (long)_unmountTimeout.TotalMilliseconds;
        bool unmounted = false;
        bool waiting = false;
        while (!Completion.IsCompleted)
        {
            if (IsMountedOnTop())
            {
                unmounted = TryUnmount(0, out int errno);
                if (unmounted || errno != Libc.EBUSY)
                {
                    break;
                }
            }

            if (Environment.TickCount64 >= deadline || _stopWaiting)
            {
                break;
            }

            if (!waiting)
            {
                // Said at once: whoever stops the server learns why it does not stop, and what comes.
                FuseLog.Busy(_logger, _mountPoint, _unmountTimeout);
                waiting = true;
            }

            await Task.WhenAny(Completion, Task.Delay(50)).ConfigureAwait(false);
        }

        if (!unmounted && !Completion.IsCompleted)
        {
            if (_stopWaiting)
            {
                FuseLog.AbortedOnRequest(_logger, _mountPoint);
            }
            else
            {
                FuseLog.Aborted(_logger, _mountPoint, _unmountTimeout);
            }
            if (!IsMountedOnTop() || !TryUnmount(Libc.UnmountForce | Libc.UnmountDetach, out _) || _helper is not null)
            {
                // fusermount3 can only detach: the connection stays while the file is open, so end it too.
                // Detached by someone else already: only the connection's control file can end it.
                FuseConnections.Abort(_connection);
            }
        }

        await Completion.ConfigureAwait(false);
        _helper?.Dispose();
        _session.Close();
        Counters.Dispose();
        FuseLog.Unmounted(_logger, _mountPoint);
    }

    /// <summary>
    /// Gets whether this export's mount is the one on top at the mount point, the one an unmount of the directory takes
    /// away; true when the connection or the mount table is not known.
    /// </summary>
    private bool IsMountedOnTop() => _connection is null || FuseMountTable.FindTop(_mountPoint) is { IsBlkmq: true } top && top.Connection == _connection;

    private bool TryUnmount(int flags, out int errno)
    {
        if (_helper is not null)
        {
            // Not root: fusermount3 unmounts; it fails (on an open file, EBUSY) without saying why in a code.
            bool unmounted = Fusermount.Unmount(_mountPoint, lazy: (flags & Libc.UnmountDetach) != 0);
            errno = unmounted ? 0 : Libc.EBUSY;
            return unmounted;
        }

        if (Libc.Unmount(_mountPoint, flags) == 0)
        {
            errno = 0;
            return true;
        }

        errno = Marshal.GetLastPInvokeError();
        return false;
    }
}
