using System.Runtime.InteropServices;

namespace Blkmq.Fuse.Interop;

/// <summary><c>struct fuse_open_in</c>: <c>flags</c> are the open(2) flags.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FuseOpenIn
{
    public int Flags;
    public uint OpenFlags;
}
