using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Blkmq.Nbd;

/// <summary>
/// <c>recv</c> and <c>send</c> with <c>MSG_DONTWAIT</c> on a blocking socket's descriptor. The busy-polling reader
/// receives in one system call where a poll for input followed by the read takes two, and a thread that completed a
/// request sends its reply without ever blocking on a client that does not read. <see cref="Socket"/> has no
/// non-blocking call on a blocking socket (it refuses <c>MSG_DONTWAIT</c>), hence the calls of our own.
/// </summary>
internal static unsafe partial class NonBlockingSocket
{
    private const int MsgDontWait = 0x40;
    private const int MsgNoSignal = 0x4000;
    private const int EAgain = 11;
    private const int EIntr = 4;

    /// <summary>Gets whether <see cref="TryReceive"/> and <see cref="TrySend"/> work on this system.</summary>
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

    /// <summary>
    /// Sends as much of <paramref name="bytes"/> as the socket's buffer takes now, without waiting (and without
    /// <c>SIGPIPE</c> when the peer is gone). The caller keeps the socket open for the call.
    /// </summary>
    /// <param name="fd">The descriptor of a connected stream socket.</param>
    /// <param name="bytes">What to send; not empty.</param>
    /// <returns>The bytes sent (0 when the buffer is full); -1 when the send failed (the connection is broken).</returns>
    public static int TrySend(int fd, ReadOnlySpan<byte> bytes)
    {
        fixed (byte* start = bytes)
        {
            while (true)
            {
                nint sent = Send(fd, start, (nuint)bytes.Length, MsgDontWait | MsgNoSignal);
                if (sent >= 0)
                {
                    return (int)sent;
                }

                int errno = Marshal.GetLastPInvokeError();
                if (errno == EAgain)
                {
                    return 0;
                }

                if (errno != EIntr)
                {
                    return -1;
                }
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "recv")]
    private static partial nint Recv(int fd, byte* buffer, nuint length, int flags);

    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    private static partial nint Send(int fd, byte* buffer, nuint length, int flags);
}
