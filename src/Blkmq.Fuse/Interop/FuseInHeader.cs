using System.Runtime.InteropServices;

namespace Blkmq.Fuse.Interop;

/// <summary><c>struct fuse_in_header</c>: the 40 bytes before every request.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FuseInHeader
{
    public uint Length;
    public FuseOpcode Opcode;
    public ulong Unique;
    public ulong NodeId;
    public uint Uid;
    public uint Gid;
    public uint Pid;
    public ushort TotalExtensionLength;
    public ushort Padding;
}
