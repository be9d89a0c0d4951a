using System.Runtime.InteropServices;

namespace Blkmq.Fuse.Interop;

/// <summary><c>struct fuse_fallocate_in</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FuseFallocateIn
{
    public ulong FileHandle;
    public ulong Offset;
    public ulong Length;
    public uint Mode;
    public uint Padding;
}
