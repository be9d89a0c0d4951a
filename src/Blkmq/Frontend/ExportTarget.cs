namespace Blkmq.Frontend;

/// <summary>
/// The disk an export serves at one time, with the device opened on it. A front end takes the export's current
/// target (<see cref="BlockExport.Target"/>) when a client attaches (NBD) or per request (FUSE) and keeps using it:
/// after a power cycle the export has a new target, and IO through the old one fails once its disk is removed.
/// </summary>
public sealed class ExportTarget
{
    internal ExportTarget(BlockExport export, Disk disk)
    {
        Export = export;
        Disk = disk;
        Device = disk.OpenDevice();
    }

    /// <summary>Gets the export this target belongs to.</summary>
    public BlockExport Export { get; }

    /// <summary>Gets the disk.</summary>
    public Disk Disk { get; }

    /// <summary>Gets the device opened on <see cref="Disk"/>: every front end's IO goes through it.</summary>
    public BlockDevice Device { get; }

    /// <summary>Gets whether writes are refused: the export is read-only, or the disk is (now).</summary>
    public bool IsReadOnly => Export.ReadOnly || Disk.IsReadOnly;

    /// <summary>Prepares a reused buffer for a read of this disk (<see cref="ReadBufferPolicy.Prepare"/>).</summary>
    /// <param name="buffer">The buffer the read fills.</param>
    public void PrepareReadBuffer(Span<byte> buffer)
    {
        if (!Disk.ReadsFillBuffers)
        {
            buffer.Clear();
        }
    }
}
