namespace Blkmq.Fuse;

/// <summary>One file of a <see cref="FuseExport"/>: a name in the mount's root directory and the disk behind it.</summary>
public sealed record FuseFile
{
    /// <summary>Gets the file's name: not empty, <c>.</c> or <c>..</c>, no <c>/</c>, at most 255 bytes of UTF-8.</summary>
    public required string Name { get; init; }

    /// <summary>Gets the disk served. The export does not own it: remove it after disposing the export.</summary>
    public required Disk Disk { get; init; }

    /// <summary>Gets whether the file is read-only (mode 0444; opens for writing fail with <c>EROFS</c>), also when the disk is.</summary>
    public bool ReadOnly { get; init; }
}
