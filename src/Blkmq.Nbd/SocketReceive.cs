using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Blkmq.Nbd;

/// <summary>
/// One <c>recv(MSG_DONTWAIT)</c> on a socket's descriptor: what a busy-polling reader needs, in one system call where
/// a poll for input followed by the read takes two. <see cref="Socket"/> has no non-blocking receive on a blocking
/// socket (it refuses <c>MSG_DONTWAIT</c>), hence the call of our own.
/// </summary>
internal static unsafe partial class SocketReceive
{
    private const int MsgDontWait = 0x40;

    /// <summary>Gets whether <see cref="TryReceive"/> works on this system.</summary>
    public static bool IsSupported { get; } = OperatingSystem.IsLinux();

    /// <summary>
    /// Receives what the socket holds, up to <paramref name="into"/>.Length bytes, without waiting. The caller keeps
    /// the socket open for the call (the descriptor is not reference-counted here).
    /// </summary>
    /// <param name="fd">The descriptor of a connected stream socket.</param>
    /// <param name="into">Where the bytes go; not empty.</param>
    /// <returns>The bytes received; 0 at the end of the stream; -1 when nothing is there yet or the receive failed (a
    /// blocking read that follows reports the error).</returns>
    public static int TryReceive(int fd, Span<byte> into)
    {
        fixed (byte* bytes = into)
        {
            nint received = Recv(fd, bytes, (nuint)into.Length, MsgDontWait);
            return received >= 0 ? (int)received : -1;
        }
    }

    [LibraryImport("libc", EntryPoint = "recv")]
    private static partial nint Recv(int fd, byte* buffer, nuint length, int flags);
}
