using System.Runtime.InteropServices;

namespace Blkmq.IoUring.Interop;

/// <summary>Mirrors <c>struct io_uring_cqe</c> (<c>linux/io_uring.h</c>, 16 bytes): <c>__u64 user_data; __s32 res; __u32 flags;</c></summary>
[StructLayout(LayoutKind.Sequential)]
internal struct IoUringCqe
{
    public ulong UserData;
    public int Result;
    public uint Flags;
}
