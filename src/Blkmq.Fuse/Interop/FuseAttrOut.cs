using System.Runtime.InteropServices;

namespace Blkmq.Fuse.Interop;

/// <summary><c>struct fuse_attr_out</c>: the reply to <c>GETATTR</c> and <c>SETATTR</c>.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FuseAttrOut
{
    public ulong AttrValid;
    public uint AttrValidNsec;
    public uint Dummy;
    public FuseAttr Attr;
}
