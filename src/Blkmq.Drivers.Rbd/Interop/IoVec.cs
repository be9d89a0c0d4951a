using System.Runtime.InteropServices;

namespace Blkmq.Drivers.Rbd.Interop;

/// <summary>Mirrors <c>struct iovec</c> (<c>sys/uio.h</c>): <c>void *iov_base; size_t iov_len;</c></summary>
[StructLayout(LayoutKind.Sequential)]
internal struct IoVec
{
    public nint Base;
    public nuint Length;
}
