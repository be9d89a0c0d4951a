using System.Runtime.InteropServices;

namespace Blkmq.Ublk.Interop;

/// <summary>
/// Mirrors <c>struct ublksrv_ctrl_cmd</c> (<c>linux/ublk_cmd.h</c>, 32 bytes), the payload of a control command in
/// the command area of a 128-byte SQE: <c>__u32 dev_id; __u16 queue_id; __u16 len; __u64 addr; __u64 data[1];
/// __u16 dev_path_len; __u16 pad; __u32 reserved;</c>
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct UblkCtrlCmd
{
    /// <summary>The device; <c>-1</c> (all ones) asks ADD_DEV to pick one.</summary>
    public uint DevId;

    /// <summary>The queue; <c>-1</c> for a command about the whole device.</summary>
    public ushort QueueId;

    /// <summary>Bytes at <see cref="Address"/>.</summary>
    public ushort Length;

    /// <summary>The command's buffer in this process (device info, parameters, features).</summary>
    public ulong Address;

    /// <summary><c>data[0]</c>: START_DEV and END_USER_RECOVERY take the server's pid.</summary>
    public ulong Data0;

    /// <summary>The length of the device path that prefixes the buffer of an unprivileged device's command.</summary>
    public ushort DevPathLength;

    public ushort Pad;

    public uint Reserved;
}
