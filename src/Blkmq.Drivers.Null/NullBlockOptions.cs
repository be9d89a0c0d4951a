using System.Globalization;
using Blkmq.Emulation;

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
        "no_sched", "virt_boundary", "cache_size", "fua", "mbps", "badblocks", "badblocks_once",
        "badblocks_partial_io", "timeout", "requeue", "init_hctx", "zoned", "zone_size", "zone_capacity",
        "zone_nr_conv", "zone_max_open", "zone_max_active", "zone_append_max_sectors", "zone_full", "blocksize",
    ];

    // Parameters whose value is itself a comma-separated list (the kernel's fault_attr format, bad block
    // ranges): in a spec, the parts after them that start with a digit or a sign continue their value.
    private static readonly string[] s_listParameters = ["timeout", "requeue", "init_hctx", "badblocks"];

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

    /// <summary>
    /// Gets <c>no_sched</c>: run without an IO scheduler. Accepted for compatibility; Blkmq has no IO scheduler,
    /// so every disk already behaves as null_blk's <c>no_sched=1</c>. Default false.
    /// </summary>
    public bool NoScheduler { get; init; }

    /// <summary>Gets <c>virt_boundary</c>: the disks require a 4 KiB virtual boundary (<see cref="QueueLimits.VirtBoundaryMask"/> = 4095). Default false.</summary>
    public bool VirtBoundary { get; init; }

    /// <summary>
    /// Gets <c>cache_size</c> in bytes (null_blk counts MiB; in <see cref="Parse"/> a plain number is MiB): a
    /// volatile write-back cache in front of the backing memory. Writes land in it; a flush or a FUA write makes
    /// data durable; cached data is lost on <see cref="NullDevice.PowerCut"/> and power off. When full, the oldest
    /// cached pages are written back. Ignored without <see cref="MemoryBacked"/>, as in null_blk. Default 0 (none).
    /// </summary>
    public long CacheSize { get; init; }

    /// <summary>Gets <c>fua</c>: with a cache, the disks honour forced unit access themselves; without it, a FUA write is a write then a flush. Default true.</summary>
    public bool Fua { get; init; } = true;

    /// <summary>
    /// Gets <c>mbps</c>: the bandwidth limit in MiB/s, 0 to 40960; 0 means none. A request over the budget is
    /// refused as busy and requeued by the block layer (which retries it after a few milliseconds or at the next
    /// completion); no thread sleeps on it. Default 0.
    /// </summary>
    public int Mbps { get; init; }

    /// <summary>Gets the bad sector ranges each disk starts with (<c>badblocks</c>, changed at runtime through <see cref="NullDevice.BadBlocks"/>). Default none.</summary>
    public IReadOnlyList<BadBlockRange> BadBlocks { get; init; } = [];

    /// <summary>Gets <c>badblocks_once</c>: a bad range that failed an IO is cleared, so the next IO to it succeeds (a remapped sector). Default false.</summary>
    public bool BadBlocksOnce { get; init; }

    /// <summary>
    /// Gets <c>badblocks_partial_io</c>: an IO that reaches a bad block transfers the whole blocks before it, then
    /// fails (a write leaves that part written). Default false: nothing is transferred.
    /// </summary>
    public bool BadBlocksPartialIO { get; init; }

    /// <summary>Gets <c>timeout</c>: requests the driver silently never completes, so the block layer's timeout ends them. Default none.</summary>
    public FaultAttribute? TimeoutFault { get; init; }

    /// <summary>Gets <c>requeue</c>: requests the driver refuses as busy, so the block layer requeues them. Default none.</summary>
    public FaultAttribute? RequeueFault { get; init; }

    /// <summary>Gets <c>init_hctx</c>: hardware queue initializations that fail, so adding (or powering on) the disk fails. Default none.</summary>
    public FaultAttribute? InitHctxFault { get; init; }

    /// <summary>Gets <c>zoned</c>: the disks are host-managed zoned block devices. Default false.</summary>
    public bool Zoned { get; init; }

    /// <summary>Gets <c>zone_size</c> in bytes, a power of two (null_blk counts MiB; in <see cref="Parse"/> a plain number is MiB). Default 256 MiB.</summary>
    public long ZoneSize { get; init; } = 256L << 20;

    /// <summary>Gets <c>zone_capacity</c> in bytes: how much of each zone can be written; 0 means the zone size (in <see cref="Parse"/> a plain number is MiB). Default 0.</summary>
    public long ZoneCapacity { get; init; }

    /// <summary>Gets <c>zone_nr_conv</c>: how many zones at the start are conventional (lowered to the zone count - 1, as null_blk). Default 0.</summary>
    public int ConventionalZones { get; init; }

    /// <summary>Gets <c>zone_max_open</c>: the most zones open at once, 0 for no limit (ignored when not below the sequential zone count). Default 0.</summary>
    public int MaxOpenZones { get; init; }

    /// <summary>Gets <c>zone_max_active</c>: the most zones open or closed at once, 0 for no limit (ignored when not below the sequential zone count). Default 0.</summary>
    public int MaxActiveZones { get; init; }

    /// <summary>Gets <c>zone_append_max_sectors</c>: the largest zone append in sectors, capped by the zone capacity and max_sectors; 0 disables zone append. Default 2^31 - 1.</summary>
    public int MaxZoneAppendSectors { get; init; } = int.MaxValue;

    /// <summary>Gets <c>zone_full</c>: sequential zones start full instead of empty. Default false.</summary>
    public bool ZoneFull { get; init; }

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

        foreach ((string key, string value) in SplitSpec(spec))
        {
            options = key switch
            {
                "submit_queues" => options with { SubmitQueues = ParseInt(key, value) },
                "poll_queues" => options with { PollQueues = ParseInt(key, value) },
                "hw_queue_depth" => options with { HwQueueDepth = ParseInt(key, value) },
                "irqmode" => options with { IrqMode = ParseIrqMode(value) },
                "completion_nsec" => options with { CompletionNsec = ParseLong(key, value) },
                "bs" => options with { BlockSize = ParseBlockSize(key, value) },
                "gb" => options with { Size = ParseSize(key, value, 1L << 30) },
                "size" => options with { Size = ParseSize(key, value) },
                "memory_backed" => options with { MemoryBacked = ParseBool(key, value) },
                "blocking" => options with { Blocking = ParseBool(key, value) },
                "discard" => options with { Discard = ParseBool(key, value) },
                "nr_devices" => options with { NrDevices = ParseInt(key, value) },
                "shared_tags" => options with { SharedTags = ParseBool(key, value) },
                "rotational" => options with { Rotational = ParseBool(key, value) },
                "max_sectors" => options with { MaxSectors = ParseInt(key, value) },
                "name" => options with { Name = value },
                "blocksize" => options with { BlockSize = ParseBlockSize(key, value) },
                "no_sched" => options with { NoScheduler = ParseBool(key, value) },
                "virt_boundary" => options with { VirtBoundary = ParseBool(key, value) },
                "cache_size" => options with { CacheSize = ParseMebibytes(key, value) },
                "fua" => options with { Fua = ParseBool(key, value) },
                "mbps" => options with { Mbps = ParseInt(key, value) },
                "badblocks" => options with { BadBlocks = ParseBadBlocks(key, value) },
                "badblocks_once" => options with { BadBlocksOnce = ParseBool(key, value) },
                "badblocks_partial_io" => options with { BadBlocksPartialIO = ParseBool(key, value) },
                "timeout" => options with { TimeoutFault = ParseFault(key, value) },
                "requeue" => options with { RequeueFault = ParseFault(key, value) },
                "init_hctx" => options with { InitHctxFault = ParseFault(key, value) },
                "zoned" => options with { Zoned = ParseBool(key, value) },
                "zone_size" => options with { ZoneSize = ParseMebibytes(key, value) },
                "zone_capacity" => options with { ZoneCapacity = ParseMebibytes(key, value) },
                "zone_nr_conv" => options with { ConventionalZones = ParseInt(key, value) },
                "zone_max_open" => options with { MaxOpenZones = ParseInt(key, value) },
                "zone_max_active" => options with { MaxActiveZones = ParseInt(key, value) },
                "zone_append_max_sectors" => options with { MaxZoneAppendSectors = ParseInt(key, value) },
                "zone_full" => options with { ZoneFull = ParseBool(key, value) },
                _ => throw new FormatException($"Unknown null_blk parameter '{key}'. Known: {string.Join(", ", ParameterNames)}."),
            };
        }

        return options;
    }

    /// <summary>
    /// The largest <see cref="Size"/> with <see cref="MemoryBacked"/>, 256 TiB: its page directory, allocated at start
    /// (8 bytes per 2 MiB), is then 1 GiB.
    /// </summary>
    public const long MaxMemoryBackedSize = 1L << 48;

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
        Check(!MemoryBacked || Size <= MaxMemoryBackedSize, nameof(Size), Size, $"size={SizeParser.Format(Size)} is too large for a memory-backed disk (at most {SizeParser.Format(MaxMemoryBackedSize)}).");
        Check(NrDevices is >= 1 and <= 1024, nameof(NrDevices), NrDevices, "nr_devices must be 1 to 1024.");
        Check(MaxSectors >= 0 && (MaxSectors == 0 || (MaxSectors << 9) >= BlockSize), nameof(MaxSectors), MaxSectors, "max_sectors must be 0 or at least one block.");
        Check(!string.IsNullOrWhiteSpace(Name), nameof(Name), Name, "name must not be empty.");
        Check(CacheSize >= 0, nameof(CacheSize), CacheSize, "cache_size must not be negative.");
        Check(Mbps is >= 0 and <= 40960, nameof(Mbps), Mbps, "mbps must be 0 (no limit) to 40960.");
        Check(BadBlocks is not null, nameof(BadBlocks), "null", "badblocks must be a list (empty for none).");
        foreach (BadBlockRange range in BadBlocks!)
        {
            Check(range.Sector >= 0 && range.Count >= 1 && range.End > range.Sector, nameof(BadBlocks), range, "A bad block range needs a non-negative first sector and at least one sector.");
        }

        TimeoutFault?.Validate("timeout");
        RequeueFault?.Validate("requeue");
        InitHctxFault?.Validate("init_hctx");
        if (Zoned)
        {
            Check(ZoneSize >= BlockSize && (ZoneSize & (ZoneSize - 1)) == 0 && ZoneSize <= (1L << 39), nameof(ZoneSize), ZoneSize, "zone_size must be a power of two from bs to 512 GiB.");
            Check(ZoneSize <= Size, nameof(ZoneSize), ZoneSize, "zone_size must not be larger than the disk.");
            Check(Size / ZoneSize < (1 << 22), nameof(ZoneSize), ZoneSize, "A zoned disk may have at most 4 Mi zones: raise zone_size.");
            Check(ZoneCapacity >= 0 && ZoneCapacity <= ZoneSize && ZoneCapacity % BlockSize == 0, nameof(ZoneCapacity), ZoneCapacity, "zone_capacity must be 0 (the zone size) or a multiple of bs up to zone_size.");
            Check(ZoneCapacity == 0 || ZoneCapacity == ZoneSize || Size % ZoneSize == 0, nameof(ZoneCapacity), ZoneCapacity, "A smaller last zone is not allowed with zone_capacity smaller than zone_size.");
            Check(ConventionalZones >= 0, nameof(ConventionalZones), ConventionalZones, "zone_nr_conv must not be negative.");
            Check(MaxOpenZones >= 0, nameof(MaxOpenZones), MaxOpenZones, "zone_max_open must not be negative.");
            Check(MaxActiveZones >= 0, nameof(MaxActiveZones), MaxActiveZones, "zone_max_active must not be negative.");
            Check(MaxZoneAppendSectors >= 0, nameof(MaxZoneAppendSectors), MaxZoneAppendSectors, "zone_append_max_sectors must not be negative.");
        }
    }

    /// <summary>Gets the effective write cache size: <see cref="CacheSize"/> when memory backed, else 0 (null_blk ignores it).</summary>
    internal long EffectiveCacheSize => MemoryBacked ? CacheSize : 0;

    /// <summary>Gets whether <paramref name="spec"/> sets the capacity (<c>size</c> or <c>gb</c>).</summary>
    internal static bool SetsSize(string spec)
    {
        if (string.IsNullOrWhiteSpace(spec))
        {
            return false;
        }

        foreach ((string key, _) in SplitSpec(spec))
        {
            if (key is "size" or "gb")
            {
                return true;
            }
        }

        return false;
    }

    // Splits "a=1,b=2,timeout=1,100,0,-1" into pairs; a part with no '=' is a flag set to 1, unless it starts with
    // a digit or a sign and follows a list parameter, which it then continues.
    private static List<(string Key, string Value)> SplitSpec(string spec)
    {
        var pairs = new List<(string Key, string Value)>();
        foreach (string part in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = part.IndexOf('=', StringComparison.Ordinal);
            if (eq < 0 && pairs.Count > 0 && (char.IsAsciiDigit(part[0]) || part[0] is '-' or '+')
                && Array.IndexOf(s_listParameters, pairs[^1].Key) >= 0)
            {
                pairs[^1] = (pairs[^1].Key, pairs[^1].Value + "," + part);
                continue;
            }

            string key = (eq < 0 ? part : part[..eq]).Trim().ToLowerInvariant();
            string value = eq < 0 ? "1" : part[(eq + 1)..].Trim();
            pairs.Add((key, value));
        }

        return pairs;
    }

    private static FaultAttribute ParseFault(string key, string value)
    {
        try
        {
            return FaultAttribute.Parse(value);
        }
        catch (FormatException ex)
        {
            throw new FormatException($"{key}: {ex.Message}", ex);
        }
    }

    // null_blk's badblocks attribute takes "+start-end" (inclusive sectors); a spec lists such ranges separated by
    // ',' or ';', the '+' optional, a lone number meaning one sector.
    private static BadBlockRange[] ParseBadBlocks(string key, string value)
    {
        try
        {
            return BadBlockList.ParseRanges(value, ',', ';');
        }
        catch (FormatException ex)
        {
            throw new FormatException($"{key}: {ex.Message}", ex);
        }
    }

    // null_blk sizes its cache and zones in MiB: a plain number is MiB, a suffixed one is what it says.
    private static long ParseMebibytes(string key, string value) => ParseSize(key, value, 1L << 20);

    // A block size is small; a value past int (bs=4294967808) must not wrap to a valid one.
    private static int ParseBlockSize(string key, string value)
    {
        long size = ParseSize(key, value);
        return size <= int.MaxValue ? (int)size : throw new FormatException($"{key}: '{value}' is too large.");
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

    private static bool ParseBool(string key, string value) => BooleanParser.Parse(value, key);

    private static int ParseInt(string key, string value) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int result)
            ? result
            : throw new FormatException($"{key}: '{value}' is not an integer.");

    private static long ParseLong(string key, string value) =>
        long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out long result)
            ? result
            : throw new FormatException($"{key}: '{value}' is not an integer.");

    /// <summary>
    /// Parses a byte count with <see cref="SizeParser"/> (an optional K, M, G, T, P or E suffix, powers of 1024), for
    /// the parameter <paramref name="key"/>.
    /// </summary>
    /// <param name="key">The parameter, for the error message.</param>
    /// <param name="value">The text.</param>
    /// <returns>The byte count.</returns>
    /// <exception cref="FormatException">The text is not a size, or one too large for a <see cref="long"/>; the message names <paramref name="key"/>.</exception>
    public static long ParseSize(string key, string value) => ParseSize(key, value, 1);

    // null_blk's parameters say "is not a size" and "is too large" as a FormatException alike (Parse's contract).
    private static long ParseSize(string key, string value, long unit)
    {
        try
        {
            return SizeParser.Parse(value, key, unit);
        }
        catch (OverflowException ex)
        {
            throw new FormatException(ex.Message, ex);
        }
    }
}
