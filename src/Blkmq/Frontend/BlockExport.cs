namespace Blkmq.Frontend;

/// <summary>
/// One disk offered to clients by a front end (NBD, FUSE, ublk): a name, an optional description, whether it refuses
/// writes, and the disk behind it, which can be replaced while the export is served (null_blk's power cycle brings a
/// device back as a new disk).
/// </summary>
/// <remarks>
/// The export does not own its disks: remove a replaced disk, and the last one after the front end stopped.
/// <see cref="Target"/> is read without a lock; <see cref="ReplaceDisk"/> publishes a whole new target at once.
/// </remarks>
public sealed class BlockExport
{
    private ExportTarget _target;

    /// <summary>Initializes a new instance of the <see cref="BlockExport"/> class.</summary>
    /// <param name="name">The name clients ask for.</param>
    /// <param name="disk">The disk served first.</param>
    /// <param name="readOnly">Whether the export refuses writes, trims and write-zeroes (also when the disk itself is read-only).</param>
    /// <param name="description">A description for clients that list exports; empty for none.</param>
    public BlockExport(string name, Disk disk, bool readOnly = false, string? description = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(disk);
        Name = name;
        ReadOnly = readOnly;
        Description = description ?? string.Empty;
        _target = new ExportTarget(this, disk);
    }

    /// <summary>Gets the name clients ask for.</summary>
    public string Name { get; }

    /// <summary>Gets the description; empty for none.</summary>
    public string Description { get; }

    /// <summary>Gets whether the export refuses writes whatever its disk allows.</summary>
    public bool ReadOnly { get; }

    /// <summary>Gets the disk served now, with its device.</summary>
    public ExportTarget Target => Volatile.Read(ref _target);

    /// <summary>Gets the disk served now.</summary>
    public Disk Disk => Target.Disk;

    /// <summary>
    /// Serves another disk from now on, as a device powered off and on again comes back as a new disk. Clients that
    /// hold the old target keep it (its IO fails once that disk is removed); new ones get <paramref name="disk"/>.
    /// </summary>
    /// <param name="disk">The disk to serve.</param>
    /// <returns>The new target.</returns>
    public ExportTarget ReplaceDisk(Disk disk)
    {
        ArgumentNullException.ThrowIfNull(disk);
        var target = new ExportTarget(this, disk);
        Volatile.Write(ref _target, target);
        return target;
    }
}
