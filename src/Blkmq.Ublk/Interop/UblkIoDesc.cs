using System.Runtime.InteropServices;

namespace Blkmq.Ublk.Interop;

/// <summary>
/// Mirrors <c>struct ublksrv_io_desc</c> (<c>linux/ublk_cmd.h</c>, 24 bytes): one request, in the read-only array
/// the server maps from <c>/dev/ublkcN</c>, indexed by tag. <c>__u32 op_flags; union { __u32 nr_sectors; __u32
/// nr_zones; }; __u64 start_sector; __u64 addr;</c>
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct UblkIoDesc
{
    /// <summary>The operation in bits 0-7 (<c>UBLK_IO_OP_*</c>), flags above (<c>UBLK_IO_F_*</c>).</summary>
    public uint OpFlags;

    /// <summary>512-byte sectors (zones for REPORT_ZONES).</summary>
    public uint NrSectors;

    /// <summary>The first 512-byte sector.</summary>
    public ulong StartSector;

    /// <summary>The buffer address the server gave with the tag's last FETCH or COMMIT_AND_FETCH.</summary>
    public ulong Address;

    /// <summary>Gets the operation (<c>ublksrv_get_op</c>).</summary>
    public readonly byte Op => (byte)OpFlags;
}
