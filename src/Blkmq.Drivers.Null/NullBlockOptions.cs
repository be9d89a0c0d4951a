using System.Globalization;

namespace Blkmq.Drivers.Null;

/// <summary>
/// The null driver's parameters, with Linux null_blk's names (in <see cref="Parse"/>), meanings and defaults
/// (<c>Documentation/block/null_blk.rst</c>).
/// </summary>
public sealed record NullBlockOptions
{
    /// <summary>The parameter names <see cref="Parse"/> accepts, as null_blk spells them.</summary>
    public static readonly IReadOnlyList<string> ParameterNames =
    [
        "submit_queues", "poll_queues", "hw_queue_depth", "irqmode", "completion_nsec", "bs", "gb", "size",
        "memory_backed", "blocking", "discard", "nr_devices", "shared_tags", "rotational", "max_sectors", "name",
    ];

    /// <summary>Gets <c>submit_queues</c>: default hardware queues. Default 1.</summary>
    public int SubmitQueues { get; init; } = 1;

    /// <summary>Gets <c>poll_queues</c>: queues completed only by polling. Default 0.</summary>
    public int PollQueues { get; init; }

    /// <summary>Gets <c>hw_queue_depth</c>: tags per hardware queue. Default 64.</summary>
    public int HwQueueDepth { get; init; } = 64;

    /// <summary>Gets <c>irqmode</c>: how requests complete. Default softirq, as null_blk.</summary>
    public IrqMode IrqMode { get; init; } = IrqMode.SoftIrq;

    /// <summary>Gets <c>completion_nsec</c>: the delay of timer completions in nanoseconds. Default 10,000.</summary>
    public long CompletionNsec { get; init; } = 10_000;

    /// <summary>Gets <c>bs</c>: the logical (and physical) block size, 512 to 4096. Default 512.</summary>
    public int BlockSize { get; init; } = 512;

    /// <summary>Gets the size in bytes (<c>gb</c> × 2^30, or <c>size</c>). Default 250 GiB, as null_blk's <c>gb=250</c>.</summary>
    public long Size { get; init; } = 250L << 30;

    /// <summary>Gets <c>memory_backed</c>: keep written data in sparse pages. Default false: reads leave buffers untouched.</summary>
    public bool MemoryBacked { get; init; }

    /// <summary>Gets <c>blocking</c>: register the tag set as blocking (QueueRq may sleep). Default false.</summary>
    public bool Blocking { get; init; }

    /// <summary>Gets <c>discard</c>: support discard (frees pages when memory backed). Default false.</summary>
    public bool Discard { get; init; }

    /// <summary>Gets <c>nr_devices</c>: how many disks to create. Default 1.</summary>
    public int NrDevices { get; init; } = 1;

    /// <summary>Gets <c>shared_tags</c>: one tag set for all <c>nr_devices</c> disks. Default false.</summary>
    public bool SharedTags { get; init; }

    /// <summary>Gets <c>rotational</c>: whether the disks say they are rotational. Default false.</summary>
    public bool Rotational { get; init; }

    /// <summary>Gets <c>max_sectors</c>: the largest request in 512-byte sectors; 0 for the block layer's default.</summary>
    public int MaxSectors { get; init; }

    /// <summary>Gets the name prefix of the disks; disk <c>i</c> is called prefix + i. Default <c>nullb</c>.</summary>
    public string Name { get; init; } = "nullb";

    /// <summary>Gets the request timeout of the tag set. Default 30 s.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets the clock for the block layer. Default system.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Gets the logger factory for the block layer.</summary>
    public Microsoft.Extensions.Logging.ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>
    /// Parses a comma-separated list of <c>name=value</c> pairs with null_blk's names, applied over
    /// <paramref name="baseOptions"/> (or the defaults). Sizes accept K, M, G and T suffixes.
    /// </summary>
    /// <param name="spec">For example <c>irqmode=2,completion_nsec=100000,memory_backed=1,size=1G</c>.</param>
    /// <param name="baseOptions">The options to start from.</param>
    /// <returns>The options.</returns>
    /// <exception cref="FormatException">An unknown name or a value that does not parse; the message names it.</exception>
    public static NullBlockOptions Parse(string spec, NullBlockOptions? baseOptions = null)
    {
        NullBlockOptions options = baseOptions ?? new NullBlockOptions();
        if (string.IsNullOrWhiteSpace(spec))
        {
            return options;
        }

        foreach (string part in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = part.IndexOf('=', StringComparison.Ordinal);
            string key = (eq < 0 ? part : part[..eq]).Trim().ToLowerInvariant();
            string value = eq < 0 ? "1" : part[(eq + 1)..].Trim();
            options = key switch
            {
                "submit_queues" => options with { SubmitQueues = ParseInt(key, value) },
                "poll_queues" => options with { PollQueues = ParseInt(key, value) },
                "hw_queue_depth" => options with { HwQueueDepth = ParseInt(key, value) },
                "irqmode" => options with { IrqMode = ParseIrqMode(value) },
                "completion_nsec" => options with { CompletionNsec = ParseLong(key, value) },
                "bs" => options with { BlockSize = (int)ParseSize(key, value) },
                "gb" => options with { Size = checked(ParseLong(key, value) << 30) },
                "size" => options with { Size = ParseSize(key, value) },
                "memory_backed" => options with { MemoryBacked = ParseBool(key, value) },
                "blocking" => options with { Blocking = ParseBool(key, value) },
                "discard" => options with { Discard = ParseBool(key, value) },
                "nr_devices" => options with { NrDevices = ParseInt(key, value) },
                "shared_tags" => options with { SharedTags = ParseBool(key, value) },
                "rotational" => options with { Rotational = ParseBool(key, value) },
                "max_sectors" => options with { MaxSectors = ParseInt(key, value) },
                "name" => options with { Name = value },
                _ => throw new FormatException($"Unknown null_blk parameter '{key}'. Known: {string.Join(", ", ParameterNames)}."),
            };
        }

        return options;
    }

    /// <summary>Checks every value and throws an <see cref="ArgumentException"/> naming the first wrong one.</summary>
    public void Validate()
    {
        Check(SubmitQueues is >= 1 and <= 1024, nameof(SubmitQueues), SubmitQueues, "submit_queues must be 1 to 1024.");
        Check(PollQueues is >= 0 and <= 1024, nameof(PollQueues), PollQueues, "poll_queues must be 0 to 1024.");
        Check(HwQueueDepth is >= 1 and <= 65536, nameof(HwQueueDepth), HwQueueDepth, "hw_queue_depth must be 1 to 65536.");
        Check(Enum.IsDefined(IrqMode), nameof(IrqMode), IrqMode, "irqmode must be 0 (none), 1 (softirq) or 2 (timer).");
        Check(CompletionNsec is >= 0 and <= 10_000_000_000, nameof(CompletionNsec), CompletionNsec, "completion_nsec must be 0 to 10 s.");
        Check(BlockSize is 512 or 1024 or 2048 or 4096, nameof(BlockSize), BlockSize, "bs must be 512, 1024, 2048 or 4096.");
        Check(Size > 0 && Size % BlockSize == 0, nameof(Size), Size, $"size must be a positive multiple of bs ({BlockSize}).");
        Check(NrDevices is >= 1 and <= 1024, nameof(NrDevices), NrDevices, "nr_devices must be 1 to 1024.");
        Check(MaxSectors >= 0 && (MaxSectors == 0 || (MaxSectors << 9) >= BlockSize), nameof(MaxSectors), MaxSectors, "max_sectors must be 0 or at least one block.");
        Check(!string.IsNullOrWhiteSpace(Name), nameof(Name), Name, "name must not be empty.");
    }

    private static void Check(bool condition, string name, object value, string message)
    {
        if (!condition)
        {
            throw new ArgumentOutOfRangeException(name, value, message);
        }
    }

    private static IrqMode ParseIrqMode(string value) => value.ToLowerInvariant() switch
    {
        "0" or "none" => IrqMode.None,
        "1" or "softirq" => IrqMode.SoftIrq,
        "2" or "timer" => IrqMode.Timer,
        _ => throw new FormatException($"irqmode '{value}' is not 0/none, 1/softirq or 2/timer."),
    };

    private static bool ParseBool(string key, string value) => value.ToLowerInvariant() switch
    {
        "1" or "y" or "yes" or "true" or "on" => true,
        "0" or "n" or "no" or "false" or "off" => false,
        _ => throw new FormatException($"{key}: '{value}' is not a boolean (0 or 1)."),
    };

    private static int ParseInt(string key, string value) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int result)
            ? result
            : throw new FormatException($"{key}: '{value}' is not an integer.");

    private static long ParseLong(string key, string value) =>
        long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out long result)
            ? result
            : throw new FormatException($"{key}: '{value}' is not an integer.");

    /// <summary>Parses a byte count with an optional K, M, G or T suffix (powers of 1024).</summary>
    /// <param name="key">The parameter, for the error message.</param>
    /// <param name="value">The text.</param>
    /// <returns>The byte count.</returns>
    public static long ParseSize(string key, string value)
    {
        string text = value.Trim().ToUpperInvariant();
        if (text.EndsWith("IB", StringComparison.Ordinal))
        {
            text = text[..^2];
        }
        else if (text.EndsWith('B') && text.Length > 1 && !char.IsDigit(text[^2]))
        {
            text = text[..^1];
        }

        int shift = text.Length == 0 ? 0 : text[^1] switch
        {
            'K' => 10,
            'M' => 20,
            'G' => 30,
            'T' => 40,
            _ => 0,
        };
        if (shift != 0)
        {
            text = text[..^1];
        }

        if (!long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long number) || number < 0)
        {
            throw new FormatException($"{key}: '{value}' is not a size (a number with an optional K, M, G or T suffix).");
        }

        return checked(number << shift);
    }
}
