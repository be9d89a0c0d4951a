using System.Runtime.InteropServices;

namespace Blkmq.Ublk.Interop;

/// <summary>
/// Mirrors <c>struct ublk_param_discard</c> (20 bytes): <c>__u32 discard_alignment, discard_granularity,
/// max_discard_sectors, max_write_zeroes_sectors; __u16 max_discard_segments, reserved0;</c>
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct UblkParamDiscard
{
    public uint DiscardAlignment;
    public uint DiscardGranularity;
    public uint MaxDiscardSectors;
    public uint MaxWriteZeroesSectors;
    public ushort MaxDiscardSegments;
    public ushort Reserved0;
}
