using System.Runtime.InteropServices;

namespace Blkmq.Fuse.Interop;

/// <summary><c>struct fuse_read_in</c>; also the layout of the first 40 bytes of <c>struct fuse_write_in</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FuseIoIn
{
    public ulong FileHandle;
    public ulong Offset;
    public uint Size;
    public uint IoFlags;
    public ulong LockOwner;
    public uint Flags;
    public uint Padding;
}
