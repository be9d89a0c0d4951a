using System.Runtime.InteropServices;

namespace Blkmq.IoUring.Interop;

/// <summary>
/// Mirrors <c>struct io_sqring_offsets</c> (<c>linux/io_uring.h</c>): where the submission ring's fields lie in its
/// mapping. <c>__u32 head, tail, ring_mask, ring_entries, flags, dropped, array, resv1; __u64 user_addr;</c>
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct IoSqringOffsets
{
    public uint Head;
    public uint Tail;
    public uint RingMask;
    public uint RingEntries;
    public uint Flags;
    public uint Dropped;
    public uint Array;
    public uint Reserved1;
    public ulong UserAddress;
}
