namespace Blkmq.Bench;

/// <summary>Differences of two <see cref="DiskStats"/> snapshots: the disk's activity over a phase.</summary>
internal static class DiskStatsDelta
{
    /// <summary>Counters of <paramref name="end"/> minus those of <paramref name="start"/>; in flight is taken from <paramref name="end"/>.</summary>
    public static DiskStats Between(DiskStats start, DiskStats end) => new()
    {
        ReadIos = end.ReadIos - start.ReadIos,
        ReadMerges = end.ReadMerges - start.ReadMerges,
        ReadSectors = end.ReadSectors - start.ReadSectors,
        ReadTicks = end.ReadTicks - start.ReadTicks,
        WriteIos = end.WriteIos - start.WriteIos,
        WriteMerges = end.WriteMerges - start.WriteMerges,
        WriteSectors = end.WriteSectors - start.WriteSectors,
        WriteTicks = end.WriteTicks - start.WriteTicks,
        InFlight = end.InFlight,
        IoTicks = end.IoTicks - start.IoTicks,
        TimeInQueue = end.TimeInQueue - start.TimeInQueue,
        DiscardIos = end.DiscardIos - start.DiscardIos,
        DiscardMerges = end.DiscardMerges - start.DiscardMerges,
        DiscardSectors = end.DiscardSectors - start.DiscardSectors,
        DiscardTicks = end.DiscardTicks - start.DiscardTicks,
        FlushIos = end.FlushIos - start.FlushIos,
        FlushTicks = end.FlushTicks - start.FlushTicks,
    };
}
