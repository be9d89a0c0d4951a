namespace Blkmq.Nbd;

/// <summary>One export of an <see cref="NbdServer"/>: a name clients ask for and the disk behind it.</summary>
public sealed record NbdExport
{
    /// <summary>Gets the export name clients use in <c>NBD_OPT_GO</c> / <c>NBD_OPT_EXPORT_NAME</c> (at most 4096 bytes of UTF-8).</summary>
    public required string Name { get; init; }

    /// <summary>Gets the disk served. The server does not own it: remove it after stopping the server.</summary>
    public required Disk Disk { get; init; }

    /// <summary>Gets the description sent with <c>NBD_OPT_LIST</c> and <c>NBD_INFO_DESCRIPTION</c>; empty for none.</summary>
    public string Description { get; init; } = string.Empty;

    /// <summary>Gets whether the export refuses writes, trims and write-zeroes (also when the disk itself is read-only).</summary>
    public bool ReadOnly { get; init; }
}
