using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Blkmq.Ublk.Interop;

/// <summary>Mirrors <c>struct ublk_param_zoned</c> (32 bytes, Linux 6.6): <c>__u32 max_open_zones, max_active_zones, max_zone_append_sectors; __u8 reserved[20];</c></summary>
[StructLayout(LayoutKind.Sequential)]
internal struct UblkParamZoned
{
    public uint MaxOpenZones;
    public uint MaxActiveZones;
    public uint MaxZoneAppendSectors;
    public Reserved20 Reserved;

    /// <summary>The 20 reserved bytes.</summary>
    [InlineArray(20)]
    public struct Reserved20
    {
        private byte _element;
    }
}
