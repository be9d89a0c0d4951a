namespace Blkmq.Filters;

/// <summary>
/// The per-disk data the block layer hands a filter disk's driver: its <see cref="FilterDisk"/>. A struct around the
/// reference so the block layer's generic code is not shared over <c>__Canon</c> (see <see cref="FilterQueue"/>).
/// </summary>
internal readonly struct FilterDiskData
{
    public FilterDiskData(FilterDisk disk)
    {
        Disk = disk;
    }

    /// <summary>Gets the filter disk.</summary>
    public FilterDisk Disk { get; }
}
