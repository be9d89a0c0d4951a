using System.Globalization;

namespace Blkmq;

/// <summary>
/// A snapshot of a disk's IO statistics in the shape of Linux <c>/sys/block/&lt;dev&gt;/stat</c>
/// (<c>Documentation/block/stat.rst</c>): per direction the completed IOs, merges, sectors and milliseconds,
/// plus IOs in flight, busy time and weighted time in queue.
/// </summary>
public sealed record DiskStats
{
    /// <summary>Gets the read IOs completed.</summary>
    public long ReadIos { get; init; }

    /// <summary>Gets the read IOs merged into other requests.</summary>
    public long ReadMerges { get; init; }

    /// <summary>Gets the 512-byte sectors read.</summary>
    public long ReadSectors { get; init; }

    /// <summary>Gets the total milliseconds reads took.</summary>
    public long ReadTicks { get; init; }

    /// <summary>Gets the write IOs completed (write-zeroes counts as write).</summary>
    public long WriteIos { get; init; }

    /// <summary>Gets the write IOs merged into other requests.</summary>
    public long WriteMerges { get; init; }

    /// <summary>Gets the 512-byte sectors written.</summary>
    public long WriteSectors { get; init; }

    /// <summary>Gets the total milliseconds writes took.</summary>
    public long WriteTicks { get; init; }

    /// <summary>Gets the requests currently in flight.</summary>
    public long InFlight { get; init; }

    /// <summary>Gets the milliseconds the disk had IO in flight.</summary>
    public long IoTicks { get; init; }

    /// <summary>Gets the weighted milliseconds: the sum of every IO's time.</summary>
    public long TimeInQueue { get; init; }

    /// <summary>Gets the discards completed.</summary>
    public long DiscardIos { get; init; }

    /// <summary>Gets the discards merged.</summary>
    public long DiscardMerges { get; init; }

    /// <summary>Gets the sectors discarded.</summary>
    public long DiscardSectors { get; init; }

    /// <summary>Gets the total milliseconds discards took.</summary>
    public long DiscardTicks { get; init; }

    /// <summary>Gets the flushes completed.</summary>
    public long FlushIos { get; init; }

    /// <summary>Gets the total milliseconds flushes took.</summary>
    public long FlushTicks { get; init; }

    /// <summary>Gets the reads that ended with an error (counted in <see cref="ReadIos"/> too, as Linux counts them).</summary>
    public long ReadErrors { get; init; }

    /// <summary>Gets the writes and write-zeroes that ended with an error.</summary>
    public long WriteErrors { get; init; }

    /// <summary>Gets the discards that ended with an error.</summary>
    public long DiscardErrors { get; init; }

    /// <summary>Gets the flushes that ended with an error.</summary>
    public long FlushErrors { get; init; }

    /// <summary>Gets the write zeroes completed (counted in <see cref="WriteIos"/> too, as Linux counts them).</summary>
    public long WriteZeroesIos { get; init; }

    /// <summary>Gets the sectors the completed write zeroes covered (counted in <see cref="WriteSectors"/> too).</summary>
    public long WriteZeroesSectors { get; init; }

    /// <summary>Gets the write zeroes that ended with an error (counted in <see cref="WriteErrors"/> too).</summary>
    public long WriteZeroesErrors { get; init; }

    /// <summary>Formats the snapshot as the 17 fields of <c>/sys/block/&lt;dev&gt;/stat</c>.</summary>
    /// <returns>One line, fields separated by spaces.</returns>
    public string ToSysfsString() => string.Join(
        ' ',
        new[]
        {
            ReadIos, ReadMerges, ReadSectors, ReadTicks, WriteIos, WriteMerges, WriteSectors, WriteTicks,
            InFlight, IoTicks, TimeInQueue, DiscardIos, DiscardMerges, DiscardSectors, DiscardTicks, FlushIos, FlushTicks,
        }.Select(static v => v.ToString(CultureInfo.InvariantCulture)));
}
