using HdrHistogram;

namespace Blkmq.Bench;

/// <summary>What a benchmark measured; every figure covers the measured phase only.</summary>
public sealed record BenchResult
{
    /// <summary>Gets the IOs completed in the measured phase.</summary>
    public long Ios { get; init; }

    /// <summary>Gets the bytes moved in the measured phase.</summary>
    public long Bytes { get; init; }

    /// <summary>Gets the length of the measured phase in seconds.</summary>
    public double Seconds { get; init; }

    /// <summary>Gets the warmup's length in seconds.</summary>
    public double WarmupSeconds { get; init; }

    /// <summary>Gets the IOs per second of the measured phase.</summary>
    public double Iops => Seconds > 0 ? Ios / Seconds : 0;

    /// <summary>Gets the bandwidth of the measured phase in MiB/s.</summary>
    public double BandwidthMiBPerSecond => Seconds > 0 ? Bytes / Seconds / (1 << 20) : 0;

    /// <summary>Gets the latency percentiles of the measured IOs, in nanoseconds.</summary>
    public required LatencySummary LatencyNs { get; init; }

    /// <summary>Gets the merged latency histogram (nanoseconds), for plots.</summary>
    public required HistogramBase Histogram { get; init; }

    /// <summary>Gets the process's user processor time over the phase.</summary>
    public TimeSpan UserTime { get; init; }

    /// <summary>Gets the process's system processor time over the phase.</summary>
    public TimeSpan SystemTime { get; init; }

    /// <summary>Gets the processor time (user + system) per IO, in nanoseconds.</summary>
    public double CpuNsPerIo => Ios > 0 ? (UserTime + SystemTime).TotalNanoseconds / Ios : 0;

    /// <summary>Gets the processor use of the whole process over the phase, in processors (1.0 = one core busy).</summary>
    public double CpuProcessors => Seconds > 0 ? (UserTime + SystemTime).TotalSeconds / Seconds : 0;

    /// <summary>Gets bytes allocated by everyone but the controller (which draws the progress display) during the phase.</summary>
    public long AllocatedBytes { get; init; }

    /// <summary>Gets <see cref="AllocatedBytes"/> per IO (zero in steady state).</summary>
    public double AllocatedBytesPerIo => Ios > 0 ? (double)AllocatedBytes / Ios : 0;

    /// <summary>Gets the generation 0 collections during the phase.</summary>
    public int Gen0Collections { get; init; }

    /// <summary>Gets the generation 1 collections during the phase.</summary>
    public int Gen1Collections { get; init; }

    /// <summary>Gets the generation 2 collections during the phase.</summary>
    public int Gen2Collections { get; init; }

    /// <summary>Gets the IOs that failed, plus one for a stalled run.</summary>
    public long Errors { get; init; }

    /// <summary>Gets the message of the first failure (or of the stall), if any.</summary>
    public string? FirstError { get; init; }

    /// <summary>Gets IOPS for each second of the run from its start, warmup included (the last may be a partial second).</summary>
    public required IReadOnlyList<double> IopsPerSecond { get; init; }

    /// <summary>Gets the disk's statistics over the measured phase (in flight: at its end).</summary>
    public required DiskStats DiskStats { get; init; }

    /// <summary>Gets whether the run was cut short by Ctrl+C.</summary>
    public bool Cancelled { get; init; }

    /// <summary>Gets whether IO stopped completing (a lost completion): the disk still has IO in flight that never ends.</summary>
    public bool Stalled { get; init; }
}
