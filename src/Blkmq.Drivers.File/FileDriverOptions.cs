using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Blkmq.Drivers.File;

/// <summary>
/// The file driver's parameters, written <c>path=FILE[,engine=auto|io_uring|threads][,direct=off|auto|on]
/// [,create=SIZE][,readonly=1][,queues=N][,depth=N][,threads=N][,inline=auto|0|1][,writes=inline|engine]
/// [,spin=MICROSECONDS][,timeout=SECONDS][,name=NAME]</c>.
/// </summary>
public sealed record FileDriverOptions
{
    /// <summary>Gets the regular file or block device to serve.</summary>
    public string Path { get; init; } = string.Empty;

    /// <summary>Gets the engine; <see cref="FileEngine.Auto"/> by default.</summary>
    public FileEngine Engine { get; init; }

    /// <summary>
    /// Gets whether to use <c>O_DIRECT</c>; <see cref="DirectIoMode.Off"/> (the page cache) by default, as nbdkit's
    /// file plugin and <c>qemu-nbd</c> do.
    /// </summary>
    public DirectIoMode Direct { get; init; } = DirectIoMode.Off;

    /// <summary>
    /// Gets whether one-segment writes that only copy into memory are done inside <c>QueueRq</c> on the submitter's
    /// thread (<c>writes=inline</c>, the default: buffered writes to a regular file without FUA, and every write on
    /// tmpfs) or always by the engine (<c>writes=engine</c>, for submitters that must never wait for the page cache,
    /// which may throttle a writer when too much of it is dirty).
    /// </summary>
    public bool InlineWrites { get; init; } = true;

    /// <summary>Gets the size of a sparse file to create when <see cref="Path"/> does not exist; <see langword="null"/> to require the file.</summary>
    public long? CreateSize { get; init; }

    /// <summary>Gets whether to open the file read-only (it is also read-only when the file or its file system is).</summary>
    public bool ReadOnly { get; init; }

    /// <summary>Gets the number of hardware queues, 1 to 64; each has its own ring (or worker pool).</summary>
    public int Queues { get; init; } = 1;

    /// <summary>Gets the tags per hardware queue, 1 to 4096.</summary>
    public int Depth { get; init; } = 64;

    /// <summary>Gets the worker threads per hardware queue of the threads engine, 1 to 64.</summary>
    public int Threads { get; init; } = 4;

    /// <summary>
    /// Gets where the io_uring engine runs the submitter's continuation when it ends a request:
    /// <see cref="FileInlineMode.Off"/> never on the ring thread; <see cref="FileInlineMode.Auto"/> (the default) on
    /// the ring thread, watched by the completion runner, which takes the ring away from a continuation that runs
    /// longer than a tick (about 1 ms) while IO waits; <see cref="FileInlineMode.Always"/> always on it,
    /// unwatched (a continuation that blocks stalls the ring for good).
    /// </summary>
    public FileInlineMode InlineMode { get; init; } = FileInlineMode.Auto;

    /// <summary>
    /// Gets how long, in microseconds, the io_uring engine's ring thread keeps polling for the next request after it
    /// handed completions back to their submitters, before it sleeps in <c>io_uring_enter</c> (0 to 10000; 0: sleep
    /// at once). A submitter that answers a completion with its next IO within that time finds the ring thread awake:
    /// no eventfd write, no wake-up, one system call for the IO.
    /// </summary>
    public int SpinMicroseconds { get; init; } = DefaultSpinMicroseconds;

    /// <summary>The default of <see cref="SpinMicroseconds"/>.</summary>
    internal const int DefaultSpinMicroseconds = 0;

    /// <summary>Gets the disk's name.</summary>
    public string Name { get; init; } = "file";

    /// <summary>Gets how long a request may stay with the driver before its timeout handling runs.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets the logger factory, or <see langword="null"/> for none.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>Parses the driver's <c>key=value,...</c> text over <paramref name="baseOptions"/>.</summary>
    /// <param name="text">The parameters.</param>
    /// <param name="baseOptions">The values a key left out keeps, or <see langword="null"/> for the defaults.</param>
    /// <returns>The options.</returns>
    /// <exception cref="FormatException">A key is unknown or a value does not parse.</exception>
    public static FileDriverOptions Parse(string text, FileDriverOptions? baseOptions = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        FileDriverOptions o = baseOptions ?? new FileDriverOptions();
        foreach (string part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = part.IndexOf('=', StringComparison.Ordinal);
            string key = eq < 0 ? part : part[..eq].Trim();
            string value = eq < 0 ? "1" : part[(eq + 1)..].Trim();
            o = key.ToLowerInvariant() switch
            {
                "path" or "file" => o with { Path = value },
                "engine" => o with { Engine = ParseEngine(value) },
                "direct" => o with { Direct = ParseDirect(value) },
                "create" => o with { CreateSize = SizeParser.Parse(value, "create") },
                "readonly" or "ro" => o with { ReadOnly = BooleanParser.Parse(value, "file: " + key) },
                "queues" or "submit_queues" => o with { Queues = ParseInt(key, value) },
                "depth" or "hw_queue_depth" => o with { Depth = ParseInt(key, value) },
                "threads" => o with { Threads = ParseInt(key, value) },
                "inline" => o with { InlineMode = ParseInline(value) },
                "writes" => o with { InlineWrites = ParseWrites(value) },
                "spin" => o with { SpinMicroseconds = ParseInt(key, value) },
                "timeout" => o with { RequestTimeout = TimeSpan.FromSeconds(ParseInt(key, value)) },
                "name" => o with { Name = value },
                _ => throw new FormatException($"file: unknown parameter '{key}' (known: path, engine, direct, create, readonly, queues, depth, threads, inline, writes, spin, timeout, name)."),
            };
        }

        return o;
    }

    /// <summary>Checks every value and throws an <see cref="ArgumentException"/> naming the first wrong one.</summary>
    /// <exception cref="ArgumentException">A value is out of range.</exception>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Path))
        {
            ThrowOutOfRange(nameof(Path), Path, "file: path=FILE is required.");
        }

        CheckRange(nameof(Queues), Queues, 64, "queues");
        CheckRange(nameof(Depth), Depth, 4096, "depth");
        CheckRange(nameof(Threads), Threads, 64, "threads");
        if (SpinMicroseconds is < 0 or > 10_000)
        {
            ThrowOutOfRange(nameof(SpinMicroseconds), SpinMicroseconds, "file: spin must be 0 to 10000 microseconds.");
        }

        if (RequestTimeout < TimeSpan.FromSeconds(1) || RequestTimeout > TimeSpan.FromHours(1))
        {
            ThrowOutOfRange(nameof(RequestTimeout), RequestTimeout, "file: timeout must be 1 to 3600 seconds.");
        }

        if (CreateSize is long create)
        {
            if (create <= 0)
            {
                ThrowOutOfRange(nameof(CreateSize), CreateSize, "file: create=SIZE must be positive (a 0-byte disk has nothing to serve).");
            }

            // Refused here, before the file exists: a file made of part of a block would be created, then refused as
            // "nothing to serve" (under 512 bytes) or served with its tail cut off.
            if (create % FileDisk.RegularFileBlockSize != 0)
            {
                ThrowOutOfRange(nameof(CreateSize), CreateSize, string.Create(CultureInfo.InvariantCulture, $"file: create={create} is not a multiple of {FileDisk.RegularFileBlockSize} bytes, the block size of a file's disk (such as 512, 64K or 1G)."));
            }

            // A file made for a disk that can never write it would only ever serve zeros; whoever asks for both made a
            // mistake (readonly=1 given by hand, or by serve --read-only), so say so instead of "no such file".
            if (ReadOnly)
            {
                ThrowConflict(nameof(CreateSize), "file: create=SIZE conflicts with readonly=1 (or serve --read-only): a new file that can never be written serves only zeros; create it in a writable start, then serve it read-only.");
            }
        }
    }

    /// <summary>Formats the options in the driver's own notation.</summary>
    /// <returns>The text.</returns>
    public string Format() => string.Create(
        CultureInfo.InvariantCulture,
        $"path={Path},engine={FormatEngine(Engine)},direct={Direct.ToString().ToLowerInvariant()},{(CreateSize is long size ? $"create={size}," : string.Empty)}readonly={(ReadOnly ? 1 : 0)},queues={Queues},depth={Depth},threads={Threads},inline={FormatInline(InlineMode)},writes={(InlineWrites ? "inline" : "engine")},spin={SpinMicroseconds},timeout={(long)RequestTimeout.TotalSeconds}");

    internal static string FormatEngine(FileEngine engine) => engine switch
    {
        FileEngine.IoUring => "io_uring",
        FileEngine.Threads => "threads",
        _ => "auto",
    };

    internal static string FormatInline(FileInlineMode mode) => mode switch
    {
        FileInlineMode.Off => "0",
        FileInlineMode.Always => "1",
        _ => "auto",
    };

    private static void CheckRange(string property, int value, int max, string key)
    {
        if (value < 1 || value > max)
        {
            ThrowOutOfRange(property, value, $"file: {key} must be 1 to {max}.");
        }
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void ThrowOutOfRange(string property, object? value, string message) =>
        throw new ArgumentOutOfRangeException(property, value, message);

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void ThrowConflict(string property, string message) =>
        throw new ArgumentException(message, property);

    private static FileEngine ParseEngine(string value) => value.ToLowerInvariant() switch
    {
        "auto" => FileEngine.Auto,
        "io_uring" or "iouring" or "uring" => FileEngine.IoUring,
        "threads" or "thread" or "psync" => FileEngine.Threads,
        _ => throw new FormatException($"file: engine '{value}' is not auto, io_uring or threads."),
    };

    private static bool ParseWrites(string value) => value.ToLowerInvariant() switch
    {
        "inline" => true,
        "engine" => false,
        _ => throw new FormatException($"file: writes '{value}' is not inline or engine."),
    };

    private static DirectIoMode ParseDirect(string value) => value.ToLowerInvariant() switch
    {
        "auto" => DirectIoMode.Auto,
        _ when BooleanParser.TryParse(value, out bool on) => on ? DirectIoMode.On : DirectIoMode.Off,
        _ => throw new FormatException($"file: direct '{value}' is not auto, on or off ({BooleanParser.Syntax})."),
    };

    private static FileInlineMode ParseInline(string value) => value.ToLowerInvariant() switch
    {
        "auto" => FileInlineMode.Auto,
        "always" => FileInlineMode.Always,
        _ when BooleanParser.TryParse(value, out bool on) => on ? FileInlineMode.Always : FileInlineMode.Off,
        _ => throw new FormatException($"file: inline '{value}' is not auto, 0 or 1 ({BooleanParser.Syntax})."),
    };

    private static int ParseInt(string key, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int result)
            ? result
            : throw new FormatException($"file: {key} '{value}' is not a number.");
}
