using System.Runtime.InteropServices;

namespace Blkmq.Ublk.Interop;

/// <summary>
/// Mirrors <c>struct ublk_param_basic</c> (32 bytes): <c>__u32 attrs; __u8 logical_bs_shift, physical_bs_shift,
/// io_opt_shift, io_min_shift; __u32 max_sectors, chunk_sectors; __u64 dev_sectors, virt_boundary_mask;</c>
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct UblkParamBasic
{
    /// <summary><c>UBLK_ATTR_*</c>.</summary>
    public uint Attributes;

    public byte LogicalBlockShift;
    public byte PhysicalBlockShift;
    public byte IoOptShift;
    public byte IoMinShift;
    public uint MaxSectors;

    /// <summary>The zone size in sectors for a zoned device; a split boundary otherwise (0: none).</summary>
    public uint ChunkSectors;

    public ulong DevSectors;
    public ulong VirtBoundaryMask;
}
