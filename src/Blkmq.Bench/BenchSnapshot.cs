using System.Diagnostics;

namespace Blkmq.Bench;

/// <summary>The process-wide counters at one edge of the measured phase.</summary>
internal readonly record struct BenchSnapshot(
    long Timestamp,
    long TotalAllocatedBytes,
    long ControllerAllocatedBytes,
    TimeSpan UserTime,
    TimeSpan SystemTime,
    int Gen0Collections,
    int Gen1Collections,
    int Gen2Collections,
    DiskStats Disk)
{
    /// <summary>
    /// Takes the snapshot that opens the measured phase. The total is read right before the controller's own
    /// count, with no allocation between, so that (total − controller) over the phase is what everyone else
    /// (the jobs, completion contexts, timers) allocated.
    /// </summary>
    public static BenchSnapshot TakeStart(Disk disk)
    {
        DiskStats stats = disk.GetStatistics();
        Environment.ProcessCpuUsage cpu = Environment.CpuUsage;
        int gen0 = GC.CollectionCount(0);
        int gen1 = GC.CollectionCount(1);
        int gen2 = GC.CollectionCount(2);
        long timestamp = Stopwatch.GetTimestamp();
        long total = GC.GetTotalAllocatedBytes(precise: true);
        long controller = GC.GetAllocatedBytesForCurrentThread();
        return new BenchSnapshot(timestamp, total, controller, cpu.UserTime, cpu.PrivilegedTime, gen0, gen1, gen2, stats);
    }

    /// <summary>Takes the snapshot that closes the measured phase: the mirror order of <see cref="TakeStart"/>.</summary>
    /// <param name="disk">The disk.</param>
    /// <param name="timestamp">When the phase ended, or 0 for now.</param>
    public static BenchSnapshot TakeEnd(Disk disk, long timestamp = 0)
    {
        long controller = GC.GetAllocatedBytesForCurrentThread();
        long total = GC.GetTotalAllocatedBytes(precise: true);
        long now = timestamp != 0 ? timestamp : Stopwatch.GetTimestamp();
        Environment.ProcessCpuUsage cpu = Environment.CpuUsage;
        int gen0 = GC.CollectionCount(0);
        int gen1 = GC.CollectionCount(1);
        int gen2 = GC.CollectionCount(2);
        DiskStats stats = disk.GetStatistics();
        return new BenchSnapshot(now, total, controller, cpu.UserTime, cpu.PrivilegedTime, gen0, gen1, gen2, stats);
    }
}
