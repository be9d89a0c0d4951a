using System.Net;
using System.Net.Sockets;
using Blkmq.Nbd;

namespace Blkmq.Tests.Nbd;

/// <summary>The busy-polling reader's one-call receive: data when there is some, "nothing yet" without waiting, and the end of the stream.</summary>
public sealed class NonBlockingSocketTests
{
    [Fact]
    public async Task TryReceive_DataNothingYetAndEnd_OverTcp()
    {
        Assert.SkipUnless(NonBlockingSocket.IsSupported, "recv(MSG_DONTWAIT) is used on Linux only.");
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listener.LocalEndPoint!);
        using Socket server = await listener.AcceptAsync();
        int fd = (int)server.Handle;
        byte[] buffer = new byte[64];

        // Nothing sent: the call returns at once instead of blocking.
        Assert.Equal(-1, NonBlockingSocket.TryReceive(fd, buffer));

        client.Send("hello"u8);
        Assert.Equal(5, await ReceiveSoonAsync(fd, buffer));
        Assert.Equal("hello"u8.ToArray(), buffer[..5]);

        client.Shutdown(SocketShutdown.Send);
        Assert.Equal(0, await ReceiveSoonAsync(fd, buffer));
    }

    // Loopback delivers within microseconds; tries for up to about a second.
    private static async Task<int> ReceiveSoonAsync(int fd, byte[] buffer)
    {
        int received = -1;
        for (int i = 0; i < 1000 && received < 0; i++)
        {
            received = NonBlockingSocket.TryReceive(fd, buffer);
            if (received < 0)
            {
                await Task.Delay(1);
            }
        }

        return received;
    }
}
