using System.Net;
using System.Net.Sockets;
using Blkmq.IoUring;

namespace Blkmq.Tests.IoUring;

/// <summary>
/// <see cref="IoUringCommandRing"/>, the synchronous <c>IORING_OP_URING_CMD</c> ring of ublk's control path, on the
/// host (which has no ublk): a socket's own <c>URING_CMD</c> (<c>SOCKET_URING_OP_SIOCINQ</c>, Linux 6.7) answers with
/// the bytes waiting in it, many times around the small ring; a file without <c>uring_cmd</c> answers -EOPNOTSUPP.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class CommandRingTests
{
    private const uint SocketUringOpSiocInq = 0;
    private const int EOPNOTSUPP = 95;

    [Fact]
    public void SocketSiocInq_ReturnsTheBytesWaiting_ManyTimesAroundTheRing()
    {
        using IoUringCommandRing ring = CreateOrSkip();
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        client.Connect(listener.LocalEndPoint!);
        using Socket server = listener.Accept();
        int fd = (int)server.SafeHandle.DangerousGetHandle();

        Assert.Equal(0, Execute(ring, fd));
        int waiting = 0;
        for (int i = 1; i <= 12; i++)
        {
            client.Send(new byte[i]);
            waiting += i;
            Assert.True(SpinWait.SpinUntil(() => server.Available == waiting, TimeSpan.FromSeconds(5)), "the bytes arrived");
            Assert.Equal(waiting, Execute(ring, fd));
        }
    }

    [Fact]
    public void FileWithoutUringCmd_AnswersEopnotsupp_AndTheRingGoesOn()
    {
        using IoUringCommandRing ring = CreateOrSkip();
        // A regular file (not /dev/null: its uring_cmd answers 0, for benchmarking io_uring itself).
        string path = Path.GetTempFileName();
        using FileStream file = new(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.DeleteOnClose);
        int fd = (int)file.SafeFileHandle.DangerousGetHandle();
        for (int i = 0; i < 6; i++)
        {
            Assert.Equal(-EOPNOTSUPP, ring.Execute(fd, SocketUringOpSiocInq, [1, 2, 3]));
        }

        Assert.Throws<ArgumentOutOfRangeException>(() => ring.Execute(fd, 0, new byte[IoUringCommandRing.CommandAreaSize + 1]));
    }

    private static int Execute(IoUringCommandRing ring, int fd)
    {
        int result = ring.Execute(fd, SocketUringOpSiocInq, []);
        if (result == -EOPNOTSUPP)
        {
            Assert.Skip("this kernel has no socket URING_CMD (Linux 6.7+)");
        }

        return result;
    }

    private static IoUringCommandRing CreateOrSkip()
    {
        int created = IoUringCommandRing.TryCreate(4, out IoUringCommandRing? ring);
        if (created != 0)
        {
            Assert.Skip($"io_uring with SQE128 is not available here (errno {created}).");
        }

        return ring!;
    }
}
