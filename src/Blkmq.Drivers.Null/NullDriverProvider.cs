using System.Globalization;
using Blkmq.Drivers;
using Blkmq.Emulation;

namespace Blkmq.Drivers.Null;

/// <summary>
/// The null driver's entries in a <see cref="DriverRegistry"/>: <c>null</c> (null_blk with its own defaults) and
/// <c>memory</c> (null_blk with <c>memory_backed=1,discard=1</c> and a default size of 1 GiB). Both take null_blk's
/// parameters (<see cref="NullBlockOptions.Parse"/>) and create one <see cref="NullBlock"/> instance, which
/// <see cref="DriverInstance.Owner"/> is.
/// </summary>
public static class NullDriverProvider
{
    /// <summary>The name of null_blk with its own defaults.</summary>
    public const string NullName = "null";

    /// <summary>The name of null_blk that keeps data: <c>memory_backed=1,discard=1</c>, 1 GiB by default.</summary>
    public const string MemoryName = "memory";

    private static readonly NullBlockOptions s_memoryBase = NullBlockOptions.Parse("memory_backed=1,discard=1,size=1G");

    /// <summary>Gets the <c>null</c> driver.</summary>
    public static DriverDescriptor Null { get; } = new(
        NullName,
        "null_blk: a disk without a device; reads leave buffers untouched unless memory_backed=1.",
        Describe(new NullBlockOptions()),
        static (parameters, options) => Create(NullName, new NullBlockOptions(), parameters, options),
        static (parameters, options) => ParseOptions(new NullBlockOptions(), parameters, options).Validate(),
        static (parameters, options) => DiskNames(ParseOptions(new NullBlockOptions(), parameters, options)));

    /// <summary>Gets the <c>memory</c> driver.</summary>
    public static DriverDescriptor Memory { get; } = new(
        MemoryName,
        "null_blk keeping data in sparse memory pages (null with memory_backed=1,discard=1, size 1G).",
        Describe(s_memoryBase),
        static (parameters, options) => Create(MemoryName, s_memoryBase, parameters, options),
        static (parameters, options) => ParseOptions(s_memoryBase, parameters, options).Validate(),
        static (parameters, options) => DiskNames(ParseOptions(s_memoryBase, parameters, options)));

    /// <summary>Adds <c>null</c> and <c>memory</c> to <paramref name="registry"/>.</summary>
    /// <param name="registry">The registry.</param>
    /// <exception cref="ArgumentException">The registry already has a driver of one of these names.</exception>
    public static void Register(DriverRegistry registry)
    {
        ArgumentNullException.ThrowIfNull(registry);
        registry.Add(Null);
        registry.Add(Memory);
    }

    /// <summary>
    /// The null_blk options a driver text describes: <paramref name="baseOptions"/>, then the host's disk name and
    /// default size, then <paramref name="parameters"/> (which win).
    /// </summary>
    /// <exception cref="FormatException">A parameter is unknown or does not parse.</exception>
    internal static NullBlockOptions ParseOptions(NullBlockOptions baseOptions, string parameters, DriverCreateOptions options)
    {
        NullBlockOptions start = options.DiskName is { } name ? baseOptions with { Name = name } : baseOptions;
        NullBlockOptions parsed = NullBlockOptions.Parse(parameters, start);
        if (options.DefaultSize is long size && !NullBlockOptions.SetsSize(parameters))
        {
            // The disk is as large as the host asked, rounded up to whole blocks (a bad bs is Validate's to report).
            long blockSize = Math.Max(parsed.BlockSize, 1);
            long rounded = size <= long.MaxValue - blockSize ? (size + blockSize - 1) / blockSize * blockSize : size;
            parsed = parsed with { Size = rounded };
        }

        return parsed;
    }

    /// <summary>The names of the disks <see cref="NullBlock.Create(NullBlockOptions)"/> makes: the prefix and the index, <c>NAME0</c> to <c>NAME</c>(nr_devices - 1).</summary>
    private static string[] DiskNames(NullBlockOptions o) =>
        [.. Enumerable.Range(0, Math.Clamp(o.NrDevices, 1, 1024)).Select(i => o.Name + i.ToString(CultureInfo.InvariantCulture))];

    /// <summary>The effective null_blk parameters that shape a benchmark, in null_blk's text form.</summary>
    internal static string FormatParameters(NullBlockOptions o) => string.Create(
        CultureInfo.InvariantCulture,
        $"irqmode={(int)o.IrqMode},completion_nsec={o.CompletionNsec},submit_queues={o.SubmitQueues},poll_queues={o.PollQueues},hw_queue_depth={o.HwQueueDepth},bs={o.BlockSize},size={o.Size},memory_backed={(o.MemoryBacked ? 1 : 0)},discard={(o.Discard ? 1 : 0)},blocking={(o.Blocking ? 1 : 0)}");

    private static DriverInstance Create(string driverName, NullBlockOptions baseOptions, string parameters, DriverCreateOptions options)
    {
        NullBlockOptions parsed = ParseOptions(baseOptions, parameters, options);
        if (options.LoggerFactory is { } loggerFactory)
        {
            parsed = parsed with { LoggerFactory = loggerFactory };
        }

        NullBlock instance = NullBlock.Create(parsed);
        return new DriverInstance
        {
            DriverName = driverName,
            Disks = instance.Disks,
            Owner = instance,
            Summary = FormattableString.Invariant($"{(parsed.MemoryBacked ? "memory" : "null")} disk, {parsed.Size} bytes, {parsed.BlockSize}-byte blocks"),
            Parameters = FormatParameters(parsed),
            CompletionDelay = parsed.IrqMode == IrqMode.Timer ? TimeSpan.FromTicks(parsed.CompletionNsec / 100) : TimeSpan.Zero,
        };
    }

    private static DriverParameter[] Describe(NullBlockOptions d)
    {
        static string Flag(bool value) => value ? "1" : "0";
        static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);
        static string Size(long value) => SizeParser.Format(value);
        static string Fault(FaultAttribute? fault) => fault is null ? string.Empty : fault.ToString() ?? string.Empty;

        return
        [
            new("size", "Capacity in bytes; K, M, G, T, P, E suffixes (powers of 1024).", Size(d.Size)),
            new("gb", "Capacity in GiB (null_blk's module parameter; size wins if both are given last).", Number(d.Size >> 30)),
            new("bs", "Logical and physical block size: 512, 1024, 2048 or 4096 (alias blocksize).", Number(d.BlockSize)),
            new("irqmode", "How requests end: 0/none inside queue_rq, 1/softirq on the queue's completion context, 2/timer after completion_nsec.", Number((int)d.IrqMode)),
            new("completion_nsec", "Delay of irqmode=2 completions in nanoseconds (0 to 10 s).", Number(d.CompletionNsec)),
            new("submit_queues", "Hardware queues for normal IO, 1 to 1024.", Number(d.SubmitQueues)),
            new("poll_queues", "Hardware queues completed only by polling (REQ_POLLED IO).", Number(d.PollQueues)),
            new("hw_queue_depth", "Tags per hardware queue, 1 to 65536.", Number(d.HwQueueDepth)),
            new("memory_backed", "Keep written data in sparse 4 KiB pages; without it reads leave buffers untouched.", Flag(d.MemoryBacked)),
            new("discard", "Support discard (frees whole pages when memory backed).", Flag(d.Discard)),
            new("cache_size", "Volatile write-back cache; MiB, or bytes with a suffix. Needs memory_backed.", Number(d.CacheSize >> 20)),
            new("fua", "With a cache, honour forced unit access in the disk; 0 turns FUA into write + flush.", Flag(d.Fua)),
            new("mbps", "Bandwidth limit in MiB/s, 0 (none) to 40960; over budget IO is requeued.", Number(d.Mbps)),
            new("blocking", "Register the tag set as blocking (BLK_MQ_F_BLOCKING): queue_rq may sleep.", Flag(d.Blocking)),
            new("nr_devices", "Devices (disks) to create; a front end serves the first.", Number(d.NrDevices)),
            new("shared_tags", "One tag set for all nr_devices disks.", Flag(d.SharedTags)),
            new("rotational", "The disks say they are rotational.", Flag(d.Rotational)),
            new("max_sectors", "Largest request in 512-byte sectors; 0 for the block layer's default.", Number(d.MaxSectors)),
            new("virt_boundary", "Require a 4 KiB virtual boundary between segments.", Flag(d.VirtBoundary)),
            new("no_sched", "Accepted for null_blk compatibility; Blkmq has no IO scheduler.", Flag(d.NoScheduler)),
            new("name", "Disk name prefix; disk i is named prefix + i (a server uses the export name).", d.Name),
            new("badblocks", "Bad sector ranges start-end (inclusive, 512-byte sectors), separated by ',' or ';'.", string.Empty),
            new("badblocks_once", "A bad range that failed an IO is cleared.", Flag(d.BadBlocksOnce)),
            new("badblocks_partial_io", "An IO reaching a bad block transfers the whole blocks before it, then fails.", Flag(d.BadBlocksPartialIO)),
            new("timeout", "Fault injection (interval,probability,space,times): requests never completed, ended by the timeout.", Fault(d.TimeoutFault)),
            new("requeue", "Fault injection: requests refused as busy and requeued.", Fault(d.RequeueFault)),
            new("init_hctx", "Fault injection: hardware queue initializations that fail.", Fault(d.InitHctxFault)),
            new("zoned", "A host-managed zoned disk.", Flag(d.Zoned)),
            new("zone_size", "Zone size, a power of two; MiB, or bytes with a suffix.", Number(d.ZoneSize >> 20)),
            new("zone_capacity", "Writable part of each zone; MiB, or bytes with a suffix; 0 for the zone size.", Number(d.ZoneCapacity >> 20)),
            new("zone_nr_conv", "Conventional zones at the start.", Number(d.ConventionalZones)),
            new("zone_max_open", "Most zones open at once; 0 for no limit.", Number(d.MaxOpenZones)),
            new("zone_max_active", "Most zones open or closed at once; 0 for no limit.", Number(d.MaxActiveZones)),
            new("zone_append_max_sectors", "Largest zone append in sectors; 0 disables zone append.", Number(d.MaxZoneAppendSectors)),
            new("zone_full", "Sequential zones start full.", Flag(d.ZoneFull)),
        ];
    }
}
