using System.Runtime.InteropServices;

namespace Blkmq.Drivers.File.Interop;

/// <summary>
/// Mirrors <c>struct flock</c> on 64-bit Linux: <c>short l_type; short l_whence; off_t l_start; off_t l_len;
/// pid_t l_pid;</c> (32 bytes with padding). For open-file-description locks <c>l_pid</c> must be 0.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct FileRangeLock
{
    public short Type;
    public short Whence;
    public long Start;
    public long Length;
    public int Pid;
}
