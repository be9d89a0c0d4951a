namespace Blkmq.Cli;

/// <summary>A benchmark's resolved parameters: what <c>blkmq bench</c> parsed and checked.</summary>
internal sealed record BenchSettings
{
    /// <summary>Gets the IO pattern.</summary>
    public ReadWriteMode Mode { get; init; } = ReadWriteMode.RandRead;

    /// <summary>Gets the percentage of reads in <see cref="ReadWriteMode.RandRW"/>.</summary>
    public int ReadMixPercent { get; init; } = 50;

    /// <summary>Gets the size of every IO in bytes.</summary>
    public int BlockSize { get; init; } = 4096;

    /// <summary>Gets the IOs each job keeps in flight.</summary>
    public int IoDepth { get; init; } = 1;

    /// <summary>Gets the number of jobs, each on its own thread.</summary>
    public int Jobs { get; init; } = 1;

    /// <summary>Gets how long the measured phase runs, when <see cref="TotalIos"/> is zero.</summary>
    public TimeSpan Runtime { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Gets the total IOs over all jobs, warmup included; zero for a timed run.</summary>
    public long TotalIos { get; init; }

    /// <summary>Gets the warmup of a timed run, excluded from every figure.</summary>
    public TimeSpan Warmup { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Gets the length of the region IO targets, from offset zero.</summary>
    public long Size { get; init; } = 1L << 30;

    /// <summary>Gets the name of the driver whose disk is measured.</summary>
    public string DriverName { get; init; } = string.Empty;

    /// <summary>Gets the driver's effective parameters in its own <c>key=value,...</c> notation, for the report.</summary>
    public string DriverParameters { get; init; } = string.Empty;

    /// <summary>Gets how long the driver holds a request on purpose (a timer completion): the stall watch waits that much longer.</summary>
    public TimeSpan CompletionDelay { get; init; }

    /// <summary>Gets whether IO is submitted to poll queues and completed by polling.</summary>
    public bool Polled { get; init; }

    /// <summary>Gets the report format.</summary>
    public OutputFormat Format { get; init; } = OutputFormat.Normal;

    /// <summary>Gets the SVG file to plot into, if any.</summary>
    public string? PlotPath { get; init; }

    /// <summary>Gets whether the run is bounded by an IO count rather than by time.</summary>
    public bool IsCountBased => TotalIos > 0;

    /// <summary>Gets whether the pattern is random.</summary>
    public bool IsRandom => Mode is ReadWriteMode.RandRead or ReadWriteMode.RandWrite or ReadWriteMode.RandRW;

    /// <summary>Gets fio's name for the pattern.</summary>
    public string ModeName => Mode switch
    {
        ReadWriteMode.Read => "read",
        ReadWriteMode.Write => "write",
        ReadWriteMode.RandRead => "randread",
        ReadWriteMode.RandWrite => "randwrite",
        _ => "randrw",
    };
}
