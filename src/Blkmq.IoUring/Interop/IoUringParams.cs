using System.Runtime.InteropServices;

namespace Blkmq.IoUring.Interop;

/// <summary>
/// Mirrors <c>struct io_uring_params</c> (<c>linux/io_uring.h</c>, 120 bytes): <c>__u32 sq_entries, cq_entries, flags,
/// sq_thread_cpu, sq_thread_idle, features, wq_fd, resv[3]; struct io_sqring_offsets sq_off; struct
/// io_cqring_offsets cq_off;</c>. The caller fills the flags; the kernel fills the rest.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct IoUringParams
{
    public uint SqEntries;
    public uint CqEntries;
    public uint Flags;
    public uint SqThreadCpu;
    public uint SqThreadIdle;
    public uint Features;
    public uint WqFd;
    public uint Reserved0;
    public uint Reserved1;
    public uint Reserved2;
    public IoSqringOffsets SqOffsets;
    public IoCqringOffsets CqOffsets;
}
