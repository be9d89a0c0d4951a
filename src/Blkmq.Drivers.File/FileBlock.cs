using System.Runtime.InteropServices;
using Blkmq.IoUring;

namespace Blkmq.Drivers.File;

/// <summary>
/// A running file disk: the open file (<see cref="FileDisk"/>), its tag set and the <see cref="Blkmq.Disk"/> users
/// do IO on. Disposing removes the disk (in-flight IO drains), stops the engine's threads and closes the file,
/// which releases its lock.
/// </summary>
public sealed class FileBlock : IAsyncDisposable
{
    private readonly TagSet<FileDriver, FileRequest, FileHwQueue, FileDisk> _tagSet;
    private int _disposed;

    private FileBlock(FileDriverOptions options, FileDisk file, TagSet<FileDriver, FileRequest, FileHwQueue, FileDisk> tagSet, Disk disk)
    {
        Options = options;
        File = file;
        _tagSet = tagSet;
        Disk = disk;
    }

    /// <summary>Gets the parameters the disk was created with.</summary>
    public FileDriverOptions Options { get; }

    /// <summary>Gets the open file and what it is.</summary>
    public FileDisk File { get; }

    /// <summary>Gets the disk.</summary>
    public Disk Disk { get; }

    /// <summary>Gets the engine that runs (never <see cref="FileEngine.Auto"/>).</summary>
    public FileEngine Engine => File.Engine;

    /// <summary>Opens the file of <paramref name="options"/> and adds a disk for it.</summary>
    /// <param name="options">The parameters.</param>
    /// <returns>The running disk; dispose it to close the file.</returns>
    /// <exception cref="ArgumentException">A parameter is out of range.</exception>
    /// <exception cref="IOException">The file cannot be opened, sized or locked, or io_uring was asked for and is refused; one line naming the cause.</exception>
    public static FileBlock Create(FileDriverOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        FileDisk file = FileDisk.Open(options);
        TagSet<FileDriver, FileRequest, FileHwQueue, FileDisk>? tagSet = null;
        try
        {
            file.Engine = ResolveEngine(options.Engine, file);
            var tagSetOptions = new TagSetOptions
            {
                HardwareQueueCount = options.Queues,
                QueueDepth = options.Depth,
                RequestTimeout = options.RequestTimeout,
                LoggerFactory = options.LoggerFactory,
            };
            tagSet = new TagSet<FileDriver, FileRequest, FileHwQueue, FileDisk>(new FileDriver(options.Depth, tagSetOptions.MaxSegments), tagSetOptions);
            file.TagSet = tagSet;
            file.HwQueues = new FileHwQueue?[tagSetOptions.TotalQueueCount];
            Disk disk = tagSet.AddDisk(file, new DiskOptions
            {
                Name = options.Name,
                Capacity = file.Capacity,
                Limits = new QueueLimits
                {
                    LogicalBlockSize = file.LogicalBlockSize,
                    PhysicalBlockSize = file.PhysicalBlockSize,
                    MaxSegments = tagSetOptions.MaxSegments,
                    MaxDiscardSectors = int.MaxValue >> 9,
                    MaxWriteZeroesSectors = int.MaxValue >> 9,
                },
                ReadOnly = file.ReadOnly,
                Rotational = file.Rotational,
                WriteCache = true,
                Fua = true,
                ReadsFillBuffers = true,
                Allocation = file.IsBlockDevice ? null : new FileAllocation(file),
            });
            string engine = FileDriverOptions.FormatEngine(file.Engine);
            FileLog.Opened(file.Logger, options.Name, file.Path, file.IsBlockDevice ? "block device" : "file", file.Size, file.LogicalBlockSize, file.ReadOnly ? ", read-only" : string.Empty, engine, file.DataPath);
            if (file.ImageFormat is { } format)
            {
                FileLog.NotRaw(file.Logger, options.Name, file.Path, format);
            }

            return new FileBlock(options, file, tagSet, disk);
        }
        catch
        {
            tagSet?.Dispose();
            file.DisposeFailed();
            throw;
        }
    }

    /// <summary>Finds out whether this process may use io_uring, by creating and closing a small ring.</summary>
    /// <returns>0 when it may, else the errno of <c>io_uring_setup</c> (ENOSYS, EPERM under seccomp or <c>kernel.io_uring_disabled</c>).</returns>
    public static int ProbeIoUring()
    {
        int errno = IoUringRing.TryCreate(4, out IoUringRing? ring);
        ring?.Dispose();
        return errno;
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        try
        {
            await Disk.RemoveAsync().ConfigureAwait(false);
            await _tagSet.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            File.Dispose();
        }
    }

    private static FileEngine ResolveEngine(FileEngine asked, FileDisk file)
    {
        if (asked == FileEngine.Threads)
        {
            return FileEngine.Threads;
        }

        int errno = ProbeIoUring();
        if (errno == 0)
        {
            return FileEngine.IoUring;
        }

        if (asked == FileEngine.IoUring)
        {
            throw new IOException($"engine=io_uring: io_uring is not available ({Marshal.GetPInvokeErrorMessage(errno)}); use engine=threads or auto.");
        }

        FileLog.IoUringFallback(file.Logger, file.Name, errno);
        return FileEngine.Threads;
    }
}
