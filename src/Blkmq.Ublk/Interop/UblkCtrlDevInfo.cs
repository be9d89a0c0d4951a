using System.Runtime.InteropServices;

namespace Blkmq.Ublk.Interop;

/// <summary>
/// Mirrors <c>struct ublksrv_ctrl_dev_info</c> (<c>linux/ublk_cmd.h</c>, 64 bytes): what ADD_DEV asks for and what
/// GET_DEV_INFO reports. <c>__u16 nr_hw_queues, queue_depth, state, pad0; __u32 max_io_buf_bytes, dev_id; __s32
/// ublksrv_pid; __u32 pad1; __u64 flags, ublksrv_flags; __u32 owner_uid, owner_gid; __u64 reserved1, reserved2;</c>
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct UblkCtrlDevInfo
{
    public ushort NrHwQueues;
    public ushort QueueDepth;

    /// <summary><c>UBLK_S_DEV_DEAD</c> (0), <c>_LIVE</c> (1) or <c>_QUIESCED</c> (2).</summary>
    public ushort State;

    public ushort Pad0;
    public uint MaxIoBufBytes;
    public uint DevId;
    public int UblksrvPid;
    public uint Pad1;

    /// <summary><c>UBLK_F_*</c>.</summary>
    public ulong Flags;

    /// <summary>The server's own flags, kept by the kernel for it.</summary>
    public ulong UblksrvFlags;

    public uint OwnerUid;
    public uint OwnerGid;
    public ulong Reserved1;
    public ulong Reserved2;
}
