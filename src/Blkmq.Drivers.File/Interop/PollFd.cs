using System.Runtime.InteropServices;

namespace Blkmq.Drivers.File.Interop;

/// <summary>Mirrors <c>struct pollfd</c> (<c>poll.h</c>): <c>int fd; short events; short revents;</c></summary>
[StructLayout(LayoutKind.Sequential)]
internal struct PollFd
{
    public int Fd;
    public short Events;
    public short ReturnedEvents;
}
