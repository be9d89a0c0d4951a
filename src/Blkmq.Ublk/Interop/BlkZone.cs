using System.Runtime.InteropServices;

namespace Blkmq.Ublk.Interop;

/// <summary>
/// Mirrors <c>struct blk_zone</c> (<c>linux/blkzoned.h</c>, 64 bytes), what a ublk server writes for REPORT_ZONES:
/// <c>__u64 start, len, wp; __u8 type, cond, non_seq, reset; __u8 resv[4]; __u64 capacity; __u8 reserved[24];</c>
/// All positions in 512-byte sectors.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = 64)]
internal struct BlkZone
{
    public ulong Start;
    public ulong Length;

    /// <summary>The write pointer; all ones for a zone without one that is read-only or offline.</summary>
    public ulong WritePointer;
    public byte Type;
    public byte Condition;
    public byte NonSequential;
    public byte Reset;
    public uint Reserved1;
    public ulong Capacity;
}
