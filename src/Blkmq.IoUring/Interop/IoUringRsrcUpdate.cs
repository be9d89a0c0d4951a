using System.Runtime.InteropServices;

namespace Blkmq.IoUring.Interop;

/// <summary>
/// Mirrors <c>struct io_uring_rsrc_update</c> (<c>linux/io_uring.h</c>, 16 bytes): <c>__u32 offset; __u32 resv;
/// __u64 data;</c>. With <c>IORING_REGISTER_RING_FDS</c>, <c>data</c> is the ring's descriptor and <c>offset</c> the
/// slot (<c>-1</c>: any; the kernel writes back the one it took).
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct IoUringRsrcUpdate
{
    public uint Offset;
    public uint Reserved;
    public ulong Data;
}
