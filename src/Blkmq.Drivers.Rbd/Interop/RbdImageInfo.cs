using System.Runtime.InteropServices;

namespace Blkmq.Drivers.Rbd.Interop;

/// <summary>
/// Mirrors <c>rbd_image_info_t</c> (<c>rbd/librbd.h</c>): <c>uint64_t size; uint64_t obj_size; uint64_t num_objs;
/// int order; char block_name_prefix[24]; int64_t parent_pool; char parent_name[96];</c>
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct RbdImageInfo
{
    public ulong Size;
    public ulong ObjectSize;
    public ulong ObjectCount;
    public int Order;
    public fixed byte BlockNamePrefix[24];
    public long ParentPool;
    public fixed byte ParentName[96];
}
