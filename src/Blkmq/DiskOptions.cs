namespace Blkmq;

/// <summary>What a disk looks like to its users (Linux <c>struct gendisk</c> and its queue flags).</summary>
public sealed record DiskOptions
{
    /// <summary>Gets the disk's name, unique in its tag set (for example <c>nullb0</c>).</summary>
    public required string Name { get; init; }

    /// <summary>Gets the capacity in bytes, a multiple of the logical block size.</summary>
    public required long Capacity { get; init; }

    /// <summary>Gets the queue limits.</summary>
    public QueueLimits Limits { get; init; } = new();

    /// <summary>Gets whether the disk refuses writes.</summary>
    public bool ReadOnly { get; init; }

    /// <summary>Gets whether the disk says it is rotational (seeks are expensive).</summary>
    public bool Rotational { get; init; }

    /// <summary>
    /// Gets whether the device has a volatile write cache, so that flush means something. Without one, a flush
    /// completes at once without reaching the driver and the FUA flag is dropped, as in Linux.
    /// </summary>
    public bool WriteCache { get; init; }

    /// <summary>Gets whether the driver honours <see cref="RequestFlags.Fua"/> itself; otherwise a FUA write is followed by a flush.</summary>
    public bool Fua { get; init; }

    /// <summary>
    /// Gets whether a successful read writes every byte of its buffers (a memory-backed disk does; null_blk without
    /// memory backing leaves read buffers as they were). Front ends that hand read buffers to clients clear them
    /// before the IO unless this is set, so one client never sees another's stale data. Default false.
    /// </summary>
    public bool ReadsFillBuffers { get; init; }

    /// <summary>
    /// Gets the disk's allocation map, if the driver has one (block status, hole-aware reads); <see langword="null"/>
    /// when it cannot tell, and front ends then report everything as data. Declared here, never found by a cast.
    /// </summary>
    public IAllocationSource? Allocation { get; init; }

    /// <summary>Gets the zone report of a zoned disk (required when <see cref="QueueLimits.ZoneSectors"/> is set, ignored otherwise).</summary>
    public IZonedDevice? Zones { get; init; }

    /// <summary>Gets whether per-IO statistics are kept (Linux <c>queue/iostats</c>). Default true.</summary>
    public bool IoStatistics { get; init; } = true;

    /// <summary>Checks every value and throws an <see cref="ArgumentException"/> naming the first wrong one.</summary>
    /// <param name="maxSegments">The tag set's preallocated segments per request.</param>
    public void Validate(int maxSegments)
    {
        if (string.IsNullOrWhiteSpace(Name))
        {
            ThrowHelper.ThrowArgument("A disk needs a name.", nameof(Name));
        }

        if (Limits is null)
        {
            ThrowHelper.ThrowArgument("A disk needs queue limits.", nameof(Limits));
        }

        Limits.Validate(maxSegments);
        if (Capacity < 0 || Capacity % Limits.LogicalBlockSize != 0)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(Capacity), Capacity, $"The capacity must be a non-negative multiple of the logical block size ({Limits.LogicalBlockSize}).");
        }
    }
}
