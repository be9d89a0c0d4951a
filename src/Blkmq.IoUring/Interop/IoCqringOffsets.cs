using System.Runtime.InteropServices;

namespace Blkmq.IoUring.Interop;

/// <summary>
/// Mirrors <c>struct io_cqring_offsets</c> (<c>linux/io_uring.h</c>): where the completion ring's fields lie in its
/// mapping. <c>__u32 head, tail, ring_mask, ring_entries, overflow, cqes, flags, resv1; __u64 user_addr;</c>
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct IoCqringOffsets
{
    public uint Head;
    public uint Tail;
    public uint RingMask;
    public uint RingEntries;
    public uint Overflow;
    public uint Cqes;
    public uint Flags;
    public uint Reserved1;
    public ulong UserAddress;
}
