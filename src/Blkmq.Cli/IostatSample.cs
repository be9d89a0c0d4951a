namespace Blkmq.Cli;

/// <summary>
/// One export's figures over an interval, as <c>iostat -x</c> shows them, from two <see cref="DiskStats"/> snapshots:
/// IOs and MiB per second, average wait per IO, average queue size (<c>aqu-sz</c>: the time-in-queue rate),
/// utilization (the busy-time rate), requests in flight now and errors in the interval.
/// </summary>
internal sealed record IostatSample
{
    public required string Name { get; init; }

    public double ReadsPerSecond { get; init; }

    public double WritesPerSecond { get; init; }

    public double DiscardsPerSecond { get; init; }

    public double FlushesPerSecond { get; init; }

    public double ReadMiBPerSecond { get; init; }

    public double WriteMiBPerSecond { get; init; }

    /// <summary>Gets the average read time in milliseconds (0 without reads).</summary>
    public double ReadAwaitMs { get; init; }

    /// <summary>Gets the average write time in milliseconds (0 without writes).</summary>
    public double WriteAwaitMs { get; init; }

    /// <summary>Gets the average number of requests in the queue over the interval.</summary>
    public double QueueSize { get; init; }

    /// <summary>Gets the percentage of the interval with IO in flight.</summary>
    public double UtilizationPercent { get; init; }

    /// <summary>Gets the requests in flight at the end of the interval.</summary>
    public long InFlight { get; init; }

    /// <summary>Gets the IOs that failed in the interval.</summary>
    public long Errors { get; init; }

    /// <summary>Computes the figures between <paramref name="before"/> and <paramref name="after"/>, <paramref name="milliseconds"/> apart.</summary>
    public static IostatSample Between(string name, DiskStats before, DiskStats after, double milliseconds)
    {
        double seconds = Math.Max(milliseconds, 1) / 1000;
        long reads = after.ReadIos - before.ReadIos;
        long writes = after.WriteIos - before.WriteIos;
        return new IostatSample
        {
            Name = name,
            ReadsPerSecond = reads / seconds,
            WritesPerSecond = writes / seconds,
            DiscardsPerSecond = (after.DiscardIos - before.DiscardIos) / seconds,
            FlushesPerSecond = (after.FlushIos - before.FlushIos) / seconds,
            ReadMiBPerSecond = (after.ReadSectors - before.ReadSectors) * 512.0 / (1 << 20) / seconds,
            WriteMiBPerSecond = (after.WriteSectors - before.WriteSectors) * 512.0 / (1 << 20) / seconds,
            ReadAwaitMs = reads == 0 ? 0 : (after.ReadTicks - before.ReadTicks) / (double)reads,
            WriteAwaitMs = writes == 0 ? 0 : (after.WriteTicks - before.WriteTicks) / (double)writes,
            QueueSize = (after.TimeInQueue - before.TimeInQueue) / (seconds * 1000),
            UtilizationPercent = Math.Min(100, (after.IoTicks - before.IoTicks) / (seconds * 1000) * 100),
            InFlight = after.InFlight,
            Errors = after.ReadErrors + after.WriteErrors + after.DiscardErrors + after.FlushErrors
                - (before.ReadErrors + before.WriteErrors + before.DiscardErrors + before.FlushErrors),
        };
    }
}
