using System.Globalization;

namespace Blkmq.Filters;

/// <summary>
/// Exposes a range of the disk below (nbdkit's offset and partition filters): <c>offset</c> and <c>range</c> in
/// bytes, or <c>partition=N</c>, the Nth entry of an MBR (primary partitions 1-4) or GPT partition table read from
/// the disk when the filter is created. Block status is forwarded, shifted.
/// </summary>
internal sealed class OffsetFilter : BlockFilter
{
    private readonly long _offset;
    private readonly long _length;
    private readonly string _name;

    private OffsetFilter(string name, long offset, long length)
    {
        _name = name;
        _offset = offset;
        _length = length;
    }

    /// <inheritdoc/>
    public override string Name => _name;

    /// <inheritdoc/>
    /// <remarks>offset, over whole zones (dm-linear); a partition table on a zoned disk is not a thing Linux reads.</remarks>
    public override bool SupportsZoned => _name == "offset";

    /// <inheritdoc/>
    public override string Parameters => string.Create(CultureInfo.InvariantCulture, $"offset={_offset},range={_length}");

    /// <summary>Creates the <c>offset</c> filter.</summary>
    public static OffsetFilter CreateOffset(FilterArguments arguments, Disk lower)
    {
        long offset = arguments.GetSize("offset", 0);
        long range = arguments.GetSize("range", lower.Capacity - offset);
        int block = lower.Limits.LogicalBlockSize;
        if (offset < 0 || offset % block != 0 || offset >= lower.Capacity)
        {
            throw new FormatException($"filter 'offset': offset={offset} must be a multiple of {block} inside the disk ({lower.Capacity} bytes).");
        }

        if (range <= 0 || range % block != 0 || offset + range > lower.Capacity)
        {
            throw new FormatException($"filter 'offset': range={range} must be a positive multiple of {block} ending inside the disk ({lower.Capacity} bytes).");
        }

        return new OffsetFilter("offset", offset, range);
    }

    /// <summary>Creates the <c>partition</c> filter: reads the partition table from <paramref name="lower"/>.</summary>
    public static OffsetFilter CreatePartition(FilterArguments arguments, Disk lower)
    {
        int number = (int)arguments.GetInt64("partition", 1, 1, 128);
        (long start, long length) = PartitionTable.Find(lower, number);
        return new OffsetFilter("partition", start, length);
    }

    /// <inheritdoc/>
    public override DiskOptions Shape(Disk lower, string name) => PassThroughShape(lower, name) with
    {
        Capacity = _length,
        Allocation = lower.Allocation is { } allocation ? new ShiftedAllocation(allocation, _offset) : null,
    };

    /// <inheritdoc/>
    public override StackedDiskOptions GetStackedMapping(Disk lower) => new() { LowerOffset = _offset };

    private sealed class ShiftedAllocation(IAllocationSource lower, long offset) : IAllocationSource
    {
        public ValueTask<AllocationExtent> GetExtentAsync(long offset1, long maxLength, CancellationToken cancellationToken = default) =>
            lower.GetExtentAsync(offset1 + offset, maxLength, cancellationToken);
    }
}
