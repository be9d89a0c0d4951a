using Blkmq.Frontend;

namespace Blkmq.Nbd;

/// <summary>
/// An export as a connection uses it: the shared <see cref="BlockExport"/>, the target (disk and device) it had when
/// the connection chose it, and the name and description as the protocol sends them. Immutable: a power cycle
/// (<see cref="BlockExport.ReplaceDisk"/>) makes a new entry for connections that choose the export afterwards.
/// </summary>
internal sealed class NbdExportEntry
{
    public NbdExportEntry(NbdExport export)
        : this(
            new BlockExport(export.Name, export.Disk, export.ReadOnly, export.Description),
            System.Text.Encoding.UTF8.GetBytes(export.Name),
            System.Text.Encoding.UTF8.GetBytes(export.Description ?? string.Empty))
    {
    }

    private NbdExportEntry(BlockExport export, byte[] nameBytes, byte[] descriptionBytes)
    {
        Export = export;
        Target = export.Target;
        NameBytes = nameBytes;
        DescriptionBytes = descriptionBytes;
    }

    public BlockExport Export { get; }

    /// <summary>Gets the disk and device this entry serves.</summary>
    public ExportTarget Target { get; }

    public string Name => Export.Name;

    public Disk Disk => Target.Disk;

    public BlockDevice Device => Target.Device;

    public byte[] NameBytes { get; }

    public byte[] DescriptionBytes { get; }

    public bool IsReadOnly => Target.IsReadOnly;

    /// <summary>Gets whether the export has been given another disk since this entry was made.</summary>
    public bool IsStale => !ReferenceEquals(Export.Target, Target);

    /// <summary>Makes the entry for the export's current target.</summary>
    public NbdExportEntry Refresh() => new(Export, NameBytes, DescriptionBytes);

    /// <summary>Gets the transmission flags for a connection with the given negotiated features.</summary>
    public ushort TransmissionFlags(bool structured, bool extended, bool metaContext)
    {
        Disk disk = Target.Disk;
        ushort flags = NbdProtocol.FlagHasFlags | NbdProtocol.FlagSendFlush | NbdProtocol.FlagCanMultiConn | NbdProtocol.FlagSendCache;
        if (IsReadOnly)
        {
            flags |= NbdProtocol.FlagReadOnly;
        }
        else
        {
            flags |= NbdProtocol.FlagSendFua | NbdProtocol.FlagSendWriteZeroes | NbdProtocol.FlagSendFastZero;
            if (disk.SupportsDiscard)
            {
                flags |= NbdProtocol.FlagSendTrim;
            }
        }

        if (disk.IsRotational)
        {
            flags |= NbdProtocol.FlagRotational;
        }

        if (structured || extended)
        {
            flags |= NbdProtocol.FlagSendDf;
        }

        if (extended && metaContext)
        {
            flags |= NbdProtocol.FlagBlockStatusPayload;
        }

        return flags;
    }
}
