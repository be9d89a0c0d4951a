using System.Runtime.InteropServices;

namespace Blkmq.Ublk.Interop;

/// <summary>
/// Mirrors <c>struct ublk_params</c> (<c>linux/ublk_cmd.h</c>, 112 bytes as of Linux 6.6): <c>__u32 len; __u32 types;
/// struct ublk_param_basic basic; struct ublk_param_discard discard; struct ublk_param_devt devt; struct
/// ublk_param_zoned zoned;</c>. <see cref="Types"/> says which parts SET_PARAMS applies.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct UblkParams
{
    public uint Length;

    /// <summary><c>UBLK_PARAM_TYPE_*</c>.</summary>
    public uint Types;

    public UblkParamBasic Basic;
    public UblkParamDiscard Discard;
    public UblkParamDevt Devt;
    public UblkParamZoned Zoned;
}
