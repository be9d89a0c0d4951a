using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;

namespace Blkmq.Metrics;

/// <summary>
/// The disks' instruments on <see cref="BlkmqMeter"/>. All but one are observable: they read the counters
/// <see cref="DiskStatistics"/> keeps anyway (per request slot, plain stores) when a listener collects, so they cost
/// nothing per IO. Tags: <c>disk</c> (the disk's name) and <c>op</c> (<c>read</c>, <c>write</c> with write-zeroes,
/// <c>discard</c>, <c>flush</c>, as in <c>/sys/block/DEV/stat</c>).
/// <list type="bullet">
/// <item><c>blkmq.disk.operations</c> ({operation}), <c>blkmq.disk.errors</c> ({operation}), <c>blkmq.disk.merged</c>
/// ({operation}), <c>blkmq.disk.io</c> (By), <c>blkmq.disk.operation_time</c> (s, the sum of the IOs' times):
/// counters per disk and op;</item>
/// <item><c>blkmq.disk.io_time</c> (s): time with IO in flight, per disk (utilization is its rate);</item>
/// <item><c>blkmq.disk.in_flight</c> ({request}) and <c>blkmq.disk.capacity</c> (By): current values per disk;</item>
/// <item><c>blkmq.request.duration</c> (s): a histogram per disk and op, recorded per IO, and only while a
/// listener has it enabled (see <see cref="DiskStatistics.OnStart(RequestSlot, long)"/>).</item>
/// </list>
/// Disks register when made and leave when removed (or collected); a removed disk is not reported.
/// </summary>
internal static class DiskMetrics
{
    public const string DiskTag = "disk";
    public const string OpTag = "op";

    // Disks by weak reference: a disk its owner drops without removing it does not live on here.
    private static readonly ConditionalWeakTable<Disk, object?> s_disks = [];

    /// <summary>Gets the <c>op</c> tags by statistics group: read, write, discard, flush.</summary>
    public static KeyValuePair<string, object?>[] OpTags { get; } =
    [
        new(OpTag, "read"),
        new(OpTag, "write"),
        new(OpTag, "discard"),
        new(OpTag, "flush"),
    ];

    /// <summary>Gets the latency histogram, 1 µs to 10 s in roughly 1-2.5-5 steps.</summary>
    public static Histogram<double> RequestDuration { get; } = BlkmqMeter.Meter.CreateHistogram(
        "blkmq.request.duration",
        unit: "s",
        description: "How long IOs took, from entering the block layer to their end.",
        tags: null,
        advice: new InstrumentAdvice<double>
        {
            HistogramBucketBoundaries =
            [
                1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3,
                1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
            ],
        });

    /// <summary>Gets the observable instruments (made once, with the class).</summary>
    public static IReadOnlyList<Instrument> Observables { get; } = CreateObservables();

    /// <summary>Makes <paramref name="disk"/> visible to the instruments.</summary>
    public static void Register(Disk disk) => s_disks.AddOrUpdate(disk, null);

    /// <summary>Takes a removed disk out of the instruments.</summary>
    public static void Unregister(Disk disk) => s_disks.Remove(disk);

    private static Instrument[] CreateObservables()
    {
        Meter meter = BlkmqMeter.Meter;
        return
        [
            meter.CreateObservableCounter(
                "blkmq.disk.operations",
                static () => PerOp(static s => [s.ReadIos, s.WriteIos, s.DiscardIos, s.FlushIos]),
                "{operation}",
                "IOs completed, failed ones included."),
            meter.CreateObservableCounter(
                "blkmq.disk.errors",
                static () => PerOp(static s => [s.ReadErrors, s.WriteErrors, s.DiscardErrors, s.FlushErrors]),
                "{operation}",
                "IOs that ended with an error."),
            meter.CreateObservableCounter(
                "blkmq.disk.merged",
                static () => PerOp(static s => [s.ReadMerges, s.WriteMerges, s.DiscardMerges, 0]),
                "{operation}",
                "IOs merged into other requests."),
            meter.CreateObservableCounter(
                "blkmq.disk.io",
                static () => PerOp(static s => [s.ReadSectors << 9, s.WriteSectors << 9, s.DiscardSectors << 9, 0]),
                "By",
                "Bytes read, written or discarded."),
            meter.CreateObservableCounter(
                "blkmq.disk.operation_time",
                static () => PerOpSeconds(static s => [s.ReadTicks, s.WriteTicks, s.DiscardTicks, s.FlushTicks]),
                "s",
                "The sum of the completed IOs' times (millisecond resolution)."),
            meter.CreateObservableCounter(
                "blkmq.disk.io_time",
                static () => PerDisk(static s => s.IoTicks / 1000.0),
                "s",
                "Time with at least one IO in flight; its rate is the utilization."),
            meter.CreateObservableUpDownCounter(
                "blkmq.disk.in_flight",
                static () => PerDisk(static s => s.InFlight),
                "{request}",
                "Requests the block layer or the driver holds now."),
            meter.CreateObservableUpDownCounter(
                "blkmq.disk.capacity",
                static () => PerLiveDisk(static disk => disk.Capacity),
                "By",
                "The disk's capacity."),
        ];
    }

    private static IEnumerable<(Disk Disk, DiskStats Stats)> Snapshots()
    {
        foreach (KeyValuePair<Disk, object?> entry in s_disks)
        {
            if (!entry.Key.IsRemoved)
            {
                yield return (entry.Key, entry.Key.GetStatistics());
            }
        }
    }

    private static KeyValuePair<string, object?> Tag(Disk disk) => new(DiskTag, disk.Name);

    private static List<Measurement<long>> PerOp(Func<DiskStats, long[]> pick)
    {
        var measurements = new List<Measurement<long>>();
        foreach ((Disk disk, DiskStats stats) in Snapshots())
        {
            long[] values = pick(stats);
            for (int group = 0; group < values.Length; group++)
            {
                measurements.Add(new Measurement<long>(values[group], Tag(disk), OpTags[group]));
            }
        }

        return measurements;
    }

    private static List<Measurement<double>> PerOpSeconds(Func<DiskStats, long[]> pickMilliseconds)
    {
        var measurements = new List<Measurement<double>>();
        foreach ((Disk disk, DiskStats stats) in Snapshots())
        {
            long[] values = pickMilliseconds(stats);
            for (int group = 0; group < values.Length; group++)
            {
                measurements.Add(new Measurement<double>(values[group] / 1000.0, Tag(disk), OpTags[group]));
            }
        }

        return measurements;
    }

    private static List<Measurement<T>> PerDisk<T>(Func<DiskStats, T> pick)
        where T : struct
    {
        var measurements = new List<Measurement<T>>();
        foreach ((Disk disk, DiskStats stats) in Snapshots())
        {
            measurements.Add(new Measurement<T>(pick(stats), Tag(disk)));
        }

        return measurements;
    }

    private static List<Measurement<long>> PerLiveDisk(Func<Disk, long> pick)
    {
        var measurements = new List<Measurement<long>>();
        foreach (KeyValuePair<Disk, object?> entry in s_disks)
        {
            if (!entry.Key.IsRemoved)
            {
                measurements.Add(new Measurement<long>(pick(entry.Key), Tag(entry.Key)));
            }
        }

        return measurements;
    }
}
