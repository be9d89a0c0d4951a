using System.Runtime.InteropServices;

namespace Blkmq.Fuse.Interop;

/// <summary><c>struct fuse_lseek_in</c>: the kernel asks the server only for <c>SEEK_DATA</c> and <c>SEEK_HOLE</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FuseLseekIn
{
    public ulong FileHandle;
    public ulong Offset;
    public uint Whence;
    public uint Padding;
}
