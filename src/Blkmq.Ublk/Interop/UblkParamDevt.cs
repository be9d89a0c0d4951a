using System.Runtime.InteropServices;

namespace Blkmq.Ublk.Interop;

/// <summary>Mirrors <c>struct ublk_param_devt</c> (16 bytes, read-only, GET_PARAMS fills it): <c>__u32 char_major, char_minor, disk_major, disk_minor;</c></summary>
[StructLayout(LayoutKind.Sequential)]
internal struct UblkParamDevt
{
    public uint CharMajor;
    public uint CharMinor;
    public uint DiskMajor;
    public uint DiskMinor;
}
