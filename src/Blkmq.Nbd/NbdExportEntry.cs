namespace Blkmq.Nbd;

/// <summary>An export as the server uses it: the options' export plus the device opened on its disk.</summary>
internal sealed class NbdExportEntry
{
    public NbdExportEntry(NbdExport export)
    {
        Export = export;
        Device = export.Disk.OpenDevice();
        NameBytes = System.Text.Encoding.UTF8.GetBytes(export.Name);
        DescriptionBytes = System.Text.Encoding.UTF8.GetBytes(export.Description ?? string.Empty);
    }

    public NbdExport Export { get; }

    public string Name => Export.Name;

    public Disk Disk => Export.Disk;

    public BlockDevice Device { get; }

    public byte[] NameBytes { get; }

    public byte[] DescriptionBytes { get; }

    public bool IsReadOnly => Export.ReadOnly || Export.Disk.IsReadOnly;

    /// <summary>Gets the transmission flags for a connection with the given negotiated features.</summary>
    public ushort TransmissionFlags(bool structured, bool extended, bool metaContext)
    {
        Disk disk = Export.Disk;
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
