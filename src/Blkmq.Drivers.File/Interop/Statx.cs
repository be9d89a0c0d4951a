using System.Runtime.InteropServices;

namespace Blkmq.Drivers.File.Interop;

/// <summary>
/// Mirrors the leading part of <c>struct statx</c> (<c>linux/stat.h</c>, 256 bytes in all): <c>__u32 stx_mask;
/// __u32 stx_blksize; __u64 stx_attributes; __u32 stx_nlink, stx_uid, stx_gid; __u16 stx_mode; __u16 __spare0;
/// __u64 stx_ino, stx_size, stx_blocks, stx_attributes_mask; struct statx_timestamp stx_atime, stx_btime,
/// stx_ctime, stx_mtime; __u32 stx_rdev_major, stx_rdev_minor, stx_dev_major, stx_dev_minor; __u64 stx_mnt_id;
/// __u32 stx_dio_mem_align, stx_dio_offset_align; ...</c>
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 256)]
internal struct Statx
{
    [FieldOffset(0)]
    public uint Mask;

    [FieldOffset(4)]
    public uint BlockSize;

    [FieldOffset(28)]
    public ushort Mode;

    [FieldOffset(40)]
    public ulong Size;

    [FieldOffset(48)]
    public ulong Blocks;

    [FieldOffset(128)]
    public uint RdevMajor;

    [FieldOffset(132)]
    public uint RdevMinor;

    [FieldOffset(152)]
    public uint DioMemoryAlign;

    [FieldOffset(156)]
    public uint DioOffsetAlign;
}
