using Blkmq.Drivers;

namespace Blkmq.Drivers.File;

/// <summary>
/// The file driver's entry in a <see cref="DriverRegistry"/>: <c>file:path=FILE[,engine=…][,direct=…][,create=SIZE]
/// [,readonly=1]</c> creates one <see cref="FileBlock"/>, which <see cref="DriverInstance.Owner"/> is.
/// </summary>
public static class FileDriverProvider
{
    /// <summary>The driver's name.</summary>
    public const string Name = "file";

    private static readonly FileDriverOptions s_defaults = new();

    /// <summary>Gets the <c>file</c> driver.</summary>
    public static DriverDescriptor File { get; } = new(
        Name,
        "A regular file or block device (disk image, partition), through io_uring or worker threads; the data stays.",
        [
            new("path", "The regular file or block device to serve (required).", string.Empty),
            new("engine", "auto (io_uring, else threads), io_uring, or threads (preadv2/pwritev2 on worker threads).", "auto"),
            new("direct", "O_DIRECT: off (the page cache, as nbdkit and qemu-nbd; writes are copied into it inside QueueRq), auto (O_DIRECT when the file system supports it), or on (or fail at start).", "off"),
            new("create", "Create a sparse file of this size (K, M, G, T suffixes; a multiple of 512) when path does not exist; not with readonly.", string.Empty),
            new("readonly", "Open read-only (also when the file or its file system is).", "0"),
            new("queues", "Hardware queues, each with its own ring or worker pool, 1 to 64.", "1"),
            new("depth", "Tags per hardware queue, 1 to 4096.", "64"),
            new("threads", "Worker threads per hardware queue of the threads engine, 1 to 64.", "4"),
            new("inline", "io_uring: where the submitter's continuation runs: 0 on the completion runner; auto on the ring thread (fio's speed), watched: one that holds it a tick while IO waits loses the ring; 1 always on the ring thread (fio's loop), a blocking continuation stalls the ring.", "auto"),
            new("writes", "inline: a buffered write to a file without FUA (any write on tmpfs) is copied into the page cache inside QueueRq on the submitter's thread, as nbdkit's file plugin does; engine: every write goes to the engine.", "inline"),
            new("spin", "io_uring: microseconds the ring thread and the completion runner poll for the next request before they sleep, 0 to 10000.", "0"),
            new("timeout", "Seconds a request may take before it is cancelled (io_uring) and ends when the kernel lets go, 1 to 3600.", "30"),
            new("name", "The disk's name (a server uses the export name).", s_defaults.Name),
        ],
        static (parameters, options) => Create(parameters, options),
        static (parameters, options) => Parse(parameters, options).Validate(),
        static (parameters, options) => [Parse(parameters, options).Name]);

    /// <summary>Adds <c>file</c> to <paramref name="registry"/>.</summary>
    /// <param name="registry">The registry.</param>
    /// <exception cref="ArgumentException">The registry already has a driver of that name.</exception>
    public static void Register(DriverRegistry registry)
    {
        ArgumentNullException.ThrowIfNull(registry);
        registry.Add(File);
    }

    /// <summary>
    /// Creates the disk of one file or block device given by its path, whatever characters the path holds (',', '|',
    /// '='), with the defaults for everything else: what a host's <c>serve FILE</c> makes without a parameter text.
    /// </summary>
    /// <param name="path">The file or block device.</param>
    /// <param name="options">What the host asks beyond the path.</param>
    /// <returns>The disk and its owner; the caller disposes it.</returns>
    /// <exception cref="ArgumentException">The path is empty.</exception>
    /// <exception cref="IOException">The file cannot be opened, sized or locked.</exception>
    public static DriverInstance CreateForPath(string path, DriverCreateOptions options)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(options);
        FileDriverOptions start = options.DiskName is { } name ? s_defaults with { Name = name } : s_defaults;
        return Create(start with { Path = path, ReadOnly = options.ReadOnly, LoggerFactory = options.LoggerFactory });
    }

    private static FileDriverOptions Parse(string parameters, DriverCreateOptions options)
    {
        FileDriverOptions start = options.DiskName is { } name ? s_defaults with { Name = name } : s_defaults;
        return FileDriverOptions.Parse(parameters, start) with { LoggerFactory = options.LoggerFactory };
    }

    private static DriverInstance Create(string parameters, DriverCreateOptions options) => Create(Parse(parameters, options));

    private static DriverInstance Create(FileDriverOptions parsed)
    {
        FileBlock block = FileBlock.Create(parsed);
        FileDisk file = block.File;
        return new DriverInstance
        {
            DriverName = Name,
            Disks = [block.Disk],
            Owner = block,
            Summary = FormattableString.Invariant($"{(file.IsBlockDevice ? "block device" : "file")} {file.Path}, {file.Capacity} bytes, {file.LogicalBlockSize}-byte blocks, engine {FileDriverOptions.FormatEngine(file.Engine)}, {file.DataPath}{(file.ImageFormat is { } format ? $", starts with a {format} header (served raw)" : string.Empty)}"),
            Parameters = parsed.Format(),
            CreatedFiles = file.Created ? [file.Path] : [],
        };
    }
}
