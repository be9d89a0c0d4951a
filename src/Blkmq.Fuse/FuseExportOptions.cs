using Microsoft.Extensions.Logging;

namespace Blkmq.Fuse;

/// <summary>Where a <see cref="FuseExport"/> mounts its file system, which disks it shows as files, and how they behave.</summary>
public sealed record FuseExportOptions
{
    /// <summary>Gets the directory to mount on; it must exist. Each of <see cref="Files"/> appears in it.</summary>
    public required string MountPoint { get; init; }

    /// <summary>Gets the files, one per disk, with distinct names; at least one.</summary>
    public required IReadOnlyList<FuseFile> Files { get; init; }

    /// <summary>Gets how many threads read requests from the kernel, each serving one at a time. Default 4.</summary>
    public int Threads { get; init; } = 4;

    /// <summary>
    /// Gets whether users other than the mounting one may open the file (<c>allow_other</c>; permissions are then checked
    /// by the kernel against the file's mode, <c>default_permissions</c>). Default true.
    /// </summary>
    public bool AllowOther { get; init; } = true;

    /// <summary>
    /// Gets whether the files bypass the kernel's page cache (<c>FOPEN_DIRECT_IO</c>): every read and write reaches
    /// the disk as the caller issued it. Default false: reads are cached and read ahead, writes go through at once.
    /// </summary>
    public bool DirectIO { get; init; }

    /// <summary>
    /// Gets how long <see cref="FuseExport.DisposeAsync"/> waits, after the lazy unmount, for the file to be closed
    /// (a loop device keeps it open until detached) before it aborts the connection. Default 10 s.
    /// </summary>
    public TimeSpan UnmountTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Gets whether requests come over io_uring (FUSE over io_uring, Linux 6.14+: one ring per CPU, replies committed
    /// with <c>COMMIT_AND_FETCH</c>, disk IO that completes later does not hold a thread) or through <c>/dev/fuse</c>
    /// reads and writes by <see cref="Threads"/> workers. Default <see cref="FuseIoUringMode.Auto"/>: io_uring when
    /// the kernel's <c>enable_uring</c> parameter is on. The <c>/dev/fuse</c> workers run either way (the kernel sends
    /// forgets and interrupts there).
    /// </summary>
    public FuseIoUringMode IoUring { get; init; } = FuseIoUringMode.Auto;

    /// <summary>
    /// Gets how many requests each io_uring queue holds at once (its ring entries, each with a payload buffer of
    /// 1 MiB). Default 16; 1 to 256.
    /// </summary>
    public int RingDepth { get; init; } = 16;

    /// <summary>Gets the logger factory for mount, unmount and protocol events; none by default.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }
}
