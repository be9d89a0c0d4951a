using System.Numerics;

namespace Blkmq;

/// <summary>
/// The limits a disk's requests obey (Linux <c>struct queue_limits</c>). Sizes are in bytes, counts of
/// sectors in 512-byte units as in Linux.
/// </summary>
public sealed record QueueLimits
{
    /// <summary>Gets the smallest unit the device addresses: 512 to 4096 bytes, a power of two.</summary>
    public int LogicalBlockSize { get; init; } = 512;

    /// <summary>Gets the device's internal block size, a power of two at least the logical block size; 0 means the logical block size.</summary>
    public int PhysicalBlockSize { get; init; }

    /// <summary>Gets the largest request in 512-byte sectors; larger IO is split. Default 2560 (1.25 MiB) as Linux' max_sectors_kb.</summary>
    public int MaxSectors { get; init; } = 2560;

    /// <summary>Gets the most data segments per request; merging stops there. Default 128.</summary>
    public int MaxSegments { get; init; } = 128;

    /// <summary>Gets the discard granularity in bytes; 0 means the logical block size.</summary>
    public int DiscardGranularity { get; init; }

    /// <summary>Gets the largest discard in sectors; 0 means the device does not support discard.</summary>
    public long MaxDiscardSectors { get; init; }

    /// <summary>Gets the largest write-zeroes in sectors; 0 means the block layer writes zero buffers instead.</summary>
    public long MaxWriteZeroesSectors { get; init; }

    /// <summary>
    /// Gets the virtual boundary mask (Linux <c>virt_boundary_mask</c>): every data segment but the first must
    /// start at a multiple of mask + 1 and every one but the last must end at one, so that a request maps onto
    /// device pages without gaps. 0 (the default) means no such constraint; otherwise one less than a power of two.
    /// </summary>
    public int VirtBoundaryMask { get; init; }

    /// <summary>
    /// Gets the zone size in 512-byte sectors, a power of two, for a zoned disk (Linux <c>chunk_sectors</c> with
    /// <c>BLK_FEAT_ZONED</c>); 0 (the default) for a disk that is not zoned. The last zone may be smaller. A zoned
    /// disk's driver data implements <see cref="IZonedDevice"/>.
    /// </summary>
    public int ZoneSectors { get; init; }

    /// <summary>Gets the largest zone append in 512-byte sectors (Linux <c>max_zone_append_sectors</c>); 0 means zone append is not supported.</summary>
    public int MaxZoneAppendSectors { get; init; }

    /// <summary>Gets how many zones may be open at once (Linux <c>max_open_zones</c>); 0 means no limit.</summary>
    public int MaxOpenZones { get; init; }

    /// <summary>Gets how many zones may be open or closed at once (Linux <c>max_active_zones</c>); 0 means no limit.</summary>
    public int MaxActiveZones { get; init; }

    /// <summary>Gets whether the disk is zoned.</summary>
    public bool IsZoned => ZoneSectors != 0;

    /// <summary>Gets the effective physical block size.</summary>
    public int EffectivePhysicalBlockSize => PhysicalBlockSize == 0 ? LogicalBlockSize : PhysicalBlockSize;

    /// <summary>Gets the effective discard granularity.</summary>
    public int EffectiveDiscardGranularity => DiscardGranularity == 0 ? LogicalBlockSize : DiscardGranularity;

    /// <summary>Gets the largest request in bytes.</summary>
    public int MaxBytes => MaxSectors << 9;

    /// <summary>Checks every value and throws an <see cref="ArgumentException"/> naming the first wrong one.</summary>
    /// <param name="maxSegments">The tag set's preallocated segments per request.</param>
    public void Validate(int maxSegments)
    {
        if (LogicalBlockSize is < 512 or > 4096 || !BitOperations.IsPow2(LogicalBlockSize))
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(LogicalBlockSize), LogicalBlockSize, "The logical block size must be a power of two from 512 to 4096.");
        }

        if (PhysicalBlockSize != 0 && (PhysicalBlockSize < LogicalBlockSize || !BitOperations.IsPow2(PhysicalBlockSize) || PhysicalBlockSize > 65536))
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(PhysicalBlockSize), PhysicalBlockSize, "The physical block size must be a power of two from the logical block size to 65536.");
        }

        if (MaxSectors < LogicalBlockSize >> 9 || MaxSectors > (1 << 21) || ((MaxSectors << 9) % LogicalBlockSize) != 0)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(MaxSectors), MaxSectors, "Max sectors must cover whole logical blocks, at least one, at most 1 GiB.");
        }

        if (MaxSegments < 1 || MaxSegments > maxSegments)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(MaxSegments), MaxSegments, $"Max segments must be 1 to the tag set's {maxSegments}.");
        }

        if (DiscardGranularity != 0 && (DiscardGranularity < LogicalBlockSize || DiscardGranularity % LogicalBlockSize != 0))
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(DiscardGranularity), DiscardGranularity, "The discard granularity must be a multiple of the logical block size.");
        }

        if (MaxDiscardSectors < 0)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(MaxDiscardSectors), MaxDiscardSectors, "Max discard sectors must not be negative.");
        }

        if (MaxWriteZeroesSectors < 0)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(MaxWriteZeroesSectors), MaxWriteZeroesSectors, "Max write-zeroes sectors must not be negative.");
        }

        if (VirtBoundaryMask < 0 || !BitOperations.IsPow2((long)VirtBoundaryMask + 1))
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(VirtBoundaryMask), VirtBoundaryMask, "The virtual boundary mask must be 0 or one less than a power of two.");
        }

        if (ZoneSectors < 0 || (ZoneSectors != 0 && (!BitOperations.IsPow2(ZoneSectors) || ((long)ZoneSectors << 9) < LogicalBlockSize)))
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(ZoneSectors), ZoneSectors, "The zone size must be 0 or a power of two of at least one logical block.");
        }

        if (MaxZoneAppendSectors < 0 || MaxOpenZones < 0 || MaxActiveZones < 0)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(MaxZoneAppendSectors), MaxZoneAppendSectors, "Zone limits must not be negative.");
        }
    }
}
