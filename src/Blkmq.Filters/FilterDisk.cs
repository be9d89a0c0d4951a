namespace Blkmq.Filters;

/// <summary>The per-disk data of a filter disk: the filter and the device of the disk below it.</summary>
internal sealed class FilterDisk
{
    public FilterDisk(BlockFilter filter, Disk lower)
    {
        Filter = filter;
        LowerDisk = lower;
        Lower = lower.OpenDevice();
    }

    /// <summary>Gets the filter.</summary>
    public BlockFilter Filter { get; }

    /// <summary>Gets the disk below.</summary>
    public Disk LowerDisk { get; }

    /// <summary>Gets the device on the disk below, through which every forwarded IO goes.</summary>
    public BlockDevice Lower { get; }
}
