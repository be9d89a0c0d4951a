using System.Buffers.Binary;
using System.Net.Sockets;
using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests;

/// <summary>
/// Replies sent by the thread that completed the request (a timer completion here, as a ring thread or a driver's
/// callback thread would): at a low depth it sends without waking the writer thread, and never blocks on a client that
/// does not read, handing what the socket did not take to the writer thread. Replies must arrive whole, once each, with
/// the right data, and nothing may leak when the client vanishes meanwhile.
/// </summary>
public sealed class CompleterSendTests
{
    // Timer completions: every IO ends on the timer thread, away from the connection's reader.
    private const string TimerDisk = "memory_backed=1,size=64M,irqmode=2,completion_nsec=20000";
    private const int ReadLength = 8192;
    private const int Attempts = 5;

    [Fact]
    public async Task ClientThatReadsLate_GetsEveryReplyIntact_AfterHandOvers()
    {
        const int Reads = 1500;
        await using NbdTestServer server = await NbdTestServer.StartAsync(TimerDisk, static options => options with { MaxInFlightPerConnection = 1 });
        await WritePatternAsync(server, Reads);
        bool handedOver = false;
        for (int attempt = 0; attempt < Attempts && !handedOver; attempt++)
        {
            await using RawNbdClient late = await RawNbdClient.OpenAsync(server.EndPoint);
            (Nbd.NbdConnection connection, handedOver) = await FillTheSocketAsync(server, late, Reads);
            Assert.True(connection.CompleterSends > 0, "no reply was sent by a completing thread");

            // Reading on through a 16 KiB window would take TCP ~50 ms a reply (window updates and delayed ACKs): open it.
            late.Socket.ReceiveBufferSize = 4 << 20;
            var seen = new bool[Reads];
            for (int i = 0; i < Reads; i++)
            {
                NbdReply reply = await late.ReadReplyAsync(ReadLength);
                Assert.Equal(0u, reply.Error);
                int index = checked((int)reply.Cookie);
                Assert.False(seen[index], $"reply {index} came twice");
                seen[index] = true;
                Assert.Equal(Pattern(index), reply.Data);
            }

            await late.DisposeAsync();
            await server.WaitForNoConnectionsAsync();
        }

        Assert.True(handedOver, $"in {Attempts} attempts the socket never refused a completing thread's send");
        await server.AssertNoLeaksAsync();
    }

    [Fact]
    public async Task ClientThatVanishesWithRepliesHandedOver_LeaksNothing()
    {
        await using NbdTestServer server = await NbdTestServer.StartAsync(TimerDisk, static options => options with { MaxInFlightPerConnection = 1 });
        bool handedOver = false;
        for (int attempt = 0; attempt < Attempts && !handedOver; attempt++)
        {
            await using (RawNbdClient gone = await RawNbdClient.OpenAsync(server.EndPoint))
            {
                (_, handedOver) = await FillTheSocketAsync(server, gone, 1500);
                gone.Socket.LingerState = new LingerOption(true, 0); // reset, replies unread
            }

            await server.WaitForNoConnectionsAsync();
            await server.AssertNoLeaksAsync();
        }

        Assert.True(handedOver, $"in {Attempts} attempts the socket never refused a completing thread's send");
    }

    /// <summary>
    /// Sends <paramref name="reads"/> 8 KiB reads from a client with a 16 KiB receive buffer that reads nothing: 12 MB of
    /// replies against a few hundred KiB of socket buffers, so a completing thread finds the socket full, unless the writer
    /// thread happened to be the one sending then (it may take a reply a completion queued before the completion took the
    /// writer role): the caller tries again.
    /// </summary>
    private static async Task<(Nbd.NbdConnection Connection, bool HandedOver)> FillTheSocketAsync(NbdTestServer server, RawNbdClient client, int reads)
    {
        client.Socket.ReceiveBufferSize = 16 * 1024;
        var requests = new List<byte>();
        for (int i = 0; i < reads; i++)
        {
            requests.AddRange(client.RequestHeader(RawNbdClient.CmdRead, (ulong)i, (ulong)i * ReadLength, ReadLength));
        }

        await client.SendAsync([.. requests]);
        Nbd.NbdConnection connection = await OnlyConnectionAsync(server);
        long sends = -1;
        for (int i = 0; i < 100 && connection.HandOvers == 0 && connection.CompleterSends != sends; i++)
        {
            sends = connection.CompleterSends;
            await Task.Delay(20); // until a hand-over, or until the completing threads stop sending
        }

        return (connection, connection.HandOvers > 0);
    }

    private static async Task WritePatternAsync(NbdTestServer server, int blocks)
    {
        await using RawNbdClient writer = await RawNbdClient.OpenAsync(server.EndPoint);
        for (int i = 0; i < blocks; i++)
        {
            await writer.SendRequestAsync(RawNbdClient.CmdWrite, (ulong)i, (ulong)i * ReadLength, ReadLength, payload: Pattern(i));
            Assert.Equal(0u, (await writer.ReadReplyAsync()).Error);
        }
    }

    private static async Task<Nbd.NbdConnection> OnlyConnectionAsync(NbdTestServer server)
    {
        for (int i = 0; i < 500; i++)
        {
            Nbd.NbdConnection[] connections = [.. server.Server.Connections];
            if (connections.Length == 1)
            {
                return connections[0];
            }

            await Task.Delay(10);
        }

        throw new TimeoutException("expected exactly one connection");
    }

    private static byte[] Pattern(int block)
    {
        byte[] data = new byte[ReadLength];
        for (int i = 0; i < data.Length; i += 4)
        {
            BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(i), (block * 7919) ^ i);
        }

        return data;
    }
}
