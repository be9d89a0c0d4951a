namespace Blkmq;

/// <summary>
/// The zone report of a zoned disk (Linux <c>block_device_operations.report_zones</c>), implemented by a driver's
/// per-disk data type when the disk is zoned (<see cref="QueueLimits.ZoneSectors"/> is not zero). Zone management
/// and zone append travel as requests (<see cref="RequestOp.ZoneReset"/> and the others); only the report is a
/// direct call, as in Linux.
/// </summary>
public interface IZonedDevice
{
    /// <summary>Gets the number of zones.</summary>
    int ZoneCount { get; }

    /// <summary>
    /// Describes the zones from the one that holds <paramref name="offset"/> on, as many as fit in
    /// <paramref name="zones"/> or exist. A snapshot: IO in flight may change a zone right after.
    /// </summary>
    /// <param name="offset">A byte offset inside the disk.</param>
    /// <param name="zones">Where the descriptions go.</param>
    /// <returns>How many zones were written to <paramref name="zones"/>; zero when <paramref name="offset"/> is beyond the last zone.</returns>
    int ReportZones(long offset, Span<BlockZone> zones);
}
