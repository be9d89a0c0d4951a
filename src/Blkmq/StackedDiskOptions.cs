namespace Blkmq;

/// <summary>How a <see cref="StackedDisk"/> maps its IO onto the disk below (device-mapper's linear target).</summary>
public sealed class StackedDiskOptions
{
    /// <summary>Gets the byte offset on the disk below of the stacked disk's first byte; a multiple of the lower logical block size.</summary>
    public long LowerOffset { get; init; }

    /// <summary>Gets whether writes, discards, write zeroes and zone operations fail with <see cref="BlockStatus.ReadOnly"/> whatever <see cref="Disk.IsReadOnly"/> says.</summary>
    public bool RefuseWrites { get; init; }

    /// <summary>Gets who sees the end of each timed IO (a latency histogram), or <see langword="null"/>.</summary>
    public IRequestEndObserver? EndObserver { get; init; }
}
