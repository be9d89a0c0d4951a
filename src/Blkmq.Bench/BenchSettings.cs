namespace Blkmq.Bench;

/// <summary>A benchmark's load, as fio's job options: pattern, IO size, depth, jobs, length, region.</summary>
public sealed record BenchSettings
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

    /// <summary>
    /// Gets how long the driver holds a request on purpose (a timer completion; <c>DriverInstance.CompletionDelay</c>):
    /// a run in which no IO completes for 5 s plus three times this is stalled (a lost completion) and ends.
    /// </summary>
    public TimeSpan CompletionDelay { get; init; }

    /// <summary>Gets whether IO is submitted to poll queues and completed by polling.</summary>
    public bool Polled { get; init; }

    /// <summary>
    /// Gets whether a failed IO is counted and the worker goes on (fio's <c>continue_on_error=io</c>), as under a
    /// fault-injecting filter; by default a worker stops at its first IO error.
    /// </summary>
    public bool ContinueOnError { get; init; }

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

    /// <summary>Checks the settings against each other and against <paramref name="disk"/>.</summary>
    /// <param name="disk">The disk the load will run on.</param>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of range; the message says which.</exception>
    public void Validate(Disk disk)
    {
        ArgumentNullException.ThrowIfNull(disk);
        Check(Enum.IsDefined(Mode), nameof(Mode), "Unknown IO pattern.");
        Check(ReadMixPercent is >= 0 and <= 100, nameof(ReadMixPercent), "The read mix must be 0 to 100 percent.");
        Check(BlockSize > 0 && BlockSize % disk.Limits.LogicalBlockSize == 0, nameof(BlockSize), $"The IO size must be a positive multiple of the disk's block size ({disk.Limits.LogicalBlockSize}).");
        Check(IoDepth is >= 1 and <= 65536, nameof(IoDepth), "The IO depth must be 1 to 65536.");
        Check(Jobs is >= 1 and <= 1024, nameof(Jobs), "Jobs must be 1 to 1024.");
        Check(TotalIos == 0 || TotalIos >= (long)Jobs * IoDepth, nameof(TotalIos), "A counted run needs at least jobs x iodepth IOs.");
        Check(TotalIos >= 0 && (IsCountBased || Runtime > TimeSpan.Zero), nameof(Runtime), "A timed run needs a positive runtime.");
        Check(Warmup >= TimeSpan.Zero, nameof(Warmup), "The warmup must not be negative.");
        Check(CompletionDelay >= TimeSpan.Zero, nameof(CompletionDelay), "The completion delay must not be negative.");
        Check(Size >= BlockSize && Size <= disk.Capacity, nameof(Size), "The region must hold one IO and fit on the disk.");
        Check(!Polled || disk.TagSet.PollQueueCount > 0, nameof(Polled), "Polled IO needs a disk with poll queues.");
    }

    private static void Check(bool condition, string name, string message)
    {
        if (!condition)
        {
            throw new ArgumentOutOfRangeException(name, message);
        }
    }
}
