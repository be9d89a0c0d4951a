using System.Runtime.InteropServices;

namespace Blkmq.Fuse.Interop;

/// <summary><c>struct fuse_dirent</c> without its name: the name follows, padded to 8 bytes.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FuseDirent
{
    public ulong Ino;
    public ulong Offset;
    public uint NameLength;
    public uint Type;
}
