using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using Blkmq.Integration.Tests.Infrastructure;
using Blkmq.Nbd;

namespace Blkmq.Integration.Tests;

/// <summary>
/// Malformed and hostile clients from raw sockets. Each gets a clear error or a (logged) disconnect; the server and
/// its other connections keep working; and nothing leaks (checked on dispose: no tag in use, no request in flight).
/// </summary>
public sealed class BadInputTests
{
    [Fact]
    public async Task WrongOptionMagic_Disconnects_ServerKeepsWorking()
    {
        await using NbdTestServer server = await NbdTestServer.StartAsync();
        await using (RawNbdClient bad = await RawNbdClient.ConnectAsync(server.EndPoint))
        {
            await bad.GreetAsync();
            byte[] option = new byte[16];
            BinaryPrimitives.WriteUInt64BigEndian(option, 0x1122334455667788);
            await bad.SendAsync(option);
            Assert.True(await bad.WaitForCloseAsync());
        }

        await AssertServerWorksAsync(server);
    }

    [Fact]
    public async Task WrongRequestMagic_Disconnects_OtherConnectionsGoOn()
    {
        await using NbdTestServer server = await NbdTestServer.StartAsync();
        await using RawNbdClient good = await RawNbdClient.OpenAsync(server.EndPoint, structured: true);
        await using (RawNbdClient bad = await RawNbdClient.OpenAsync(server.EndPoint))
        {
            await bad.SendRequestAsync(RawNbdClient.CmdRead, 1, 0, 512, magic: 0xdeadbeef);
            Assert.True(await bad.WaitForCloseAsync());
        }

        await good.SendRequestAsync(RawNbdClient.CmdRead, 2, 0, 4096);
        Assert.Equal(0U, (await good.ReadReplyAsync()).Error);
    }

    [Fact]
    public async Task UnknownClientFlags_Disconnect()
    {
        await using NbdTestServer server = await NbdTestServer.StartAsync();
        await using (RawNbdClient bad = await RawNbdClient.ConnectAsync(server.EndPoint))
        {
            await bad.ReadExactAsync(18);
            await bad.SendAsync(RawNbdClient.BigEndian32(0x80));
            Assert.True(await bad.WaitForCloseAsync());
        }

        await AssertServerWorksAsync(server);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(10)]
    [InlineData(20)]
    public async Task TruncatedHandshake_IsALoggedDisconnect(int bytes)
    {
        await using NbdTestServer server = await NbdTestServer.StartAsync();
        await using (RawNbdClient bad = await RawNbdClient.ConnectAsync(server.EndPoint))
        {
            await bad.ReadExactAsync(18);
            byte[] partial = [.. RawNbdClient.BigEndian32(3), .. new byte[20]];
            BinaryPrimitives.WriteUInt64BigEndian(partial.AsSpan(4), RawNbdClient.OptionMagic);
            await bad.SendAsync(partial[..bytes]);
        }

        await server.WaitForNoConnectionsAsync();
        await AssertServerWorksAsync(server);
    }

    [Fact]
    public async Task TruncatedRequest_IsALoggedDisconnect()
    {
        await using NbdTestServer server = await NbdTestServer.StartAsync();
        await using (RawNbdClient bad = await RawNbdClient.OpenAsync(server.EndPoint))
        {
            byte[] header = new byte[28];
            BinaryPrimitives.WriteUInt32BigEndian(header, RawNbdClient.RequestMagic);
            await bad.SendAsync(header[..11]);
        }

        await server.WaitForNoConnectionsAsync();
        await AssertServerWorksAsync(server);
    }

    [Fact]
    public async Task OversizedOption_GetsTooBig_AndDisconnect()
    {
        await using NbdTestServer server = await NbdTestServer.StartAsync();
        await using (RawNbdClient bad = await RawNbdClient.ConnectAsync(server.EndPoint))
        {
            await bad.GreetAsync();
            await bad.SendOptionAsync(RawNbdClient.OptGo, [], lengthOverride: 16 << 20);
            OptionReply reply = await bad.ReadOptionReplyAsync();
            Assert.Equal(RawNbdClient.RepErrTooBig, reply.Type);
            Assert.True(await bad.WaitForCloseAsync());
        }

        await AssertServerWorksAsync(server);
    }

    [Fact]
    public async Task MalformedOptions_GetInvalid_AndTheHandshakeGoesOn()
    {
        await using NbdTestServer server = await NbdTestServer.StartAsync();
        await using RawNbdClient client = await RawNbdClient.ConnectAsync(server.EndPoint);
        await client.GreetAsync();
        byte[] go = RawNbdClient.GoData("disk");
        BinaryPrimitives.WriteUInt32BigEndian(go, 1000); // name length beyond the data
        Assert.Equal(RawNbdClient.RepErrInvalid, Assert.Single(await client.OptionAsync(RawNbdClient.OptGo, go)).Type);
        Assert.Equal(RawNbdClient.RepErrInvalid, Assert.Single(await client.OptionAsync(RawNbdClient.OptList, [1])).Type);
        Assert.Equal(RawNbdClient.RepErrInvalid, Assert.Single(await client.OptionAsync(RawNbdClient.OptStructuredReply, [1])).Type);
        Assert.Equal(RawNbdClient.RepErrInvalid, Assert.Single(await client.OptionAsync(RawNbdClient.OptGo, [0, 0])).Type);
        Assert.Equal(RawNbdClient.RepAck, (await client.OptionAsync(RawNbdClient.OptGo, RawNbdClient.GoData("disk")))[^1].Type);
        await client.SendRequestAsync(RawNbdClient.CmdRead, 1, 0, 512);
        Assert.Equal(0U, (await client.ReadReplyAsync(512)).Error);
    }

    [Fact]
    public async Task UnknownExport_ErrorForGo_DisconnectForExportName()
    {
        await using NbdTestServer server = await NbdTestServer.StartAsync();
        await using (RawNbdClient client = await RawNbdClient.ConnectAsync(server.EndPoint))
        {
            await client.GreetAsync();
            Assert.Equal(RawNbdClient.RepErrUnknown, Assert.Single(await client.OptionAsync(RawNbdClient.OptGo, RawNbdClient.GoData("nosuch"))).Type);
            Assert.Equal(RawNbdClient.RepErrUnknown, Assert.Single(await client.OptionAsync(RawNbdClient.OptInfo, RawNbdClient.GoData("nosuch"))).Type);
            await client.SendOptionAsync(RawNbdClient.OptExportName, Encoding.UTF8.GetBytes("nosuch"));
            Assert.True(await client.WaitForCloseAsync());
        }

        await AssertServerWorksAsync(server);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task InvalidRequests_GetErrors_AndTheConnectionGoesOn(bool structured)
    {
        await using NbdTestServer server = await NbdTestServer.StartAsync("memory_backed=1,discard=1,size=64M,bs=4096,irqmode=0");
        await using RawNbdClient client = await RawNbdClient.OpenAsync(server.EndPoint, structured: structured);
        const ulong Size = 64UL << 20;
        ulong cookie = 100;
        async Task Expect(uint error, ushort type, ulong offset, ulong length, ushort flags = 0, byte[]? payload = null)
        {
            ulong c = ++cookie;
            await client.SendRequestAsync(type, c, offset, length, flags, payload);
            NbdReply reply = await client.ReadReplyAsync();
            Assert.Equal(c, reply.Cookie);
            Assert.True(error == reply.Error, $"type {type} offset {offset} length {length} flags {flags}: expected {error}, got {reply.Error}");
            if (structured)
            {
                ReplyChunk chunk = Assert.Single(reply.Chunks);
                Assert.Equal(0x8001, chunk.Type);
                int messageLength = BinaryPrimitives.ReadUInt16BigEndian(chunk.Payload.AsSpan(4));
                Assert.True(messageLength > 0);
            }
        }

        await Expect(RawNbdClient.Einval, RawNbdClient.CmdRead, Size, 4096);                      // beyond the end
        await Expect(RawNbdClient.Einval, RawNbdClient.CmdRead, Size - 4096, 8192);               // crosses the end
        await Expect(RawNbdClient.Einval, RawNbdClient.CmdRead, ulong.MaxValue - 4095, 8192);     // wraps
        await Expect(RawNbdClient.Enospc, RawNbdClient.CmdWrite, Size, 4096, 0, new byte[4096]);
        await Expect(RawNbdClient.Einval, RawNbdClient.CmdRead, 0, 0);                            // zero length
        await Expect(RawNbdClient.Einval, RawNbdClient.CmdTrim, 0, 0);
        await Expect(RawNbdClient.Einval, RawNbdClient.CmdRead, 512, 4096);                       // misaligned offset
        await Expect(RawNbdClient.Einval, RawNbdClient.CmdRead, 0, 1000);                         // misaligned length
        await Expect(RawNbdClient.Einval, RawNbdClient.CmdWrite, 0, 100, 0, new byte[100]);
        await Expect(RawNbdClient.Einval, RawNbdClient.CmdRead, 0, (32 << 20) + 4096);            // over the max payload
        await Expect(RawNbdClient.Einval, RawNbdClient.CmdWrite, 0, (32 << 20) + 4096, 0, new byte[(32 << 20) + 4096]);
        await Expect(RawNbdClient.Einval, 42, 0, 4096);                                           // unknown command
        await Expect(RawNbdClient.Einval, RawNbdClient.CmdRead, 0, 4096, 0x4000);                 // unknown flag
        await Expect(RawNbdClient.Einval, RawNbdClient.CmdWrite, 0, 4096, RawNbdClient.FlagReqOne, new byte[4096]);
        await Expect(RawNbdClient.Einval, RawNbdClient.CmdFlush, 4096, 0);
        await Expect(RawNbdClient.Einval, RawNbdClient.CmdBlockStatus, 0, 4096);                  // no meta context
        if (!structured)
        {
            await Expect(RawNbdClient.Einval, RawNbdClient.CmdRead, 0, 4096, RawNbdClient.FlagDf); // DF without structured replies
        }

        // Still fine afterwards.
        byte[] data = new byte[4096];
        Array.Fill(data, (byte)9);
        await client.SendRequestAsync(RawNbdClient.CmdWrite, 1, 4096, 4096, 0, data);
        Assert.Equal(0U, (await client.ReadReplyAsync()).Error);
        await client.SendRequestAsync(RawNbdClient.CmdRead, 2, 4096, 4096, 0);
        NbdReply read = await client.ReadReplyAsync(4096);
        Assert.Equal(data, structured ? read.Chunks.Single().Payload[8..] : read.Data);
    }

    [Fact]
    public async Task WritesToReadOnlyExport_GetEperm()
    {
        await using NbdTestServer server = await NbdTestServer.StartAsync(readOnly: true);
        await using RawNbdClient client = await RawNbdClient.OpenAsync(server.EndPoint);
        await client.SendRequestAsync(RawNbdClient.CmdWrite, 1, 0, 4096, 0, new byte[4096]);
        Assert.Equal(RawNbdClient.Eperm, (await client.ReadReplyAsync()).Error);
        await client.SendRequestAsync(RawNbdClient.CmdTrim, 2, 0, 4096);
        Assert.Equal(RawNbdClient.Eperm, (await client.ReadReplyAsync()).Error);
        await client.SendRequestAsync(RawNbdClient.CmdWriteZeroes, 3, 0, 4096);
        Assert.Equal(RawNbdClient.Eperm, (await client.ReadReplyAsync()).Error);
        await client.SendRequestAsync(RawNbdClient.CmdRead, 4, 0, 4096);
        Assert.Equal(0U, (await client.ReadReplyAsync(4096)).Error);
        Assert.Equal(0, server.Disk.GetStatistics().WriteIos);
    }

    [Fact]
    public async Task FastZero_WithoutDriverWriteZeroes_GetsEnotsup()
    {
        await using NbdTestServer server = await NbdTestServer.StartAsync("size=64M,irqmode=0");
        await using RawNbdClient client = await RawNbdClient.OpenAsync(server.EndPoint);
        await client.SendRequestAsync(RawNbdClient.CmdWriteZeroes, 1, 0, 1 << 20, RawNbdClient.FlagFastZero);
        Assert.Equal(RawNbdClient.Enotsup, (await client.ReadReplyAsync()).Error);
        await client.SendRequestAsync(RawNbdClient.CmdWriteZeroes, 2, 0, 1 << 20);
        Assert.Equal(0U, (await client.ReadReplyAsync()).Error);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task DisconnectInsideWritePayload_LeaksNothing(bool reset)
    {
        await using NbdTestServer server = await NbdTestServer.StartAsync();
        await using (RawNbdClient bad = await RawNbdClient.OpenAsync(server.EndPoint))
        {
            byte[] header = new byte[28];
            BinaryPrimitives.WriteUInt32BigEndian(header, RawNbdClient.RequestMagic);
            BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(6), RawNbdClient.CmdWrite);
            BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(24), 1 << 20);
            await bad.SendAsync([.. header, .. new byte[300_000]]);
            await Task.Delay(50); // let the server start reading the payload
            if (reset)
            {
                bad.Socket.LingerState = new LingerOption(true, 0); // ECONNRESET instead of end of stream
            }
        }

        await server.WaitForNoConnectionsAsync();
        await server.AssertNoLeaksAsync();
        Assert.Equal(0, server.Disk.GetStatistics().WriteIos);
        await AssertServerWorksAsync(server);
    }

    [Fact]
    public async Task DisconnectWith100RequestsInFlight_LeaksNothing()
    {
        // Timer completions keep the requests in the driver while the client goes away.
        await using NbdTestServer server = await NbdTestServer.StartAsync("memory_backed=1,size=256M,irqmode=2,completion_nsec=2000000,hw_queue_depth=128");
        await using (RawNbdClient bad = await RawNbdClient.OpenAsync(server.EndPoint, structured: true))
        {
            var batch = new List<byte>();
            for (int i = 0; i < 100; i++)
            {
                byte[] header = new byte[28];
                BinaryPrimitives.WriteUInt32BigEndian(header, RawNbdClient.RequestMagic);
                ushort type = i % 2 == 0 ? RawNbdClient.CmdRead : RawNbdClient.CmdWrite;
                BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(6), type);
                BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(8), (ulong)i);
                BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(16), (ulong)i << 20);
                BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(24), 1 << 20);
                batch.AddRange(header);
                if (type == RawNbdClient.CmdWrite)
                {
                    batch.AddRange(new byte[1 << 20]);
                }
            }

            await bad.SendAsync([.. batch]);
            bad.Socket.LingerState = new LingerOption(true, 0); // close with RST, unread replies and all
        }

        await server.WaitForNoConnectionsAsync();
        await server.AssertNoLeaksAsync();
        await AssertServerWorksAsync(server);
    }

    [Fact]
    public async Task ThousandClientsThatConnectAndVanish_LeaveTheServerWorking()
    {
        await using NbdTestServer server = await NbdTestServer.StartAsync();
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await Parallel.ForAsync(0, 1000, new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = limit.Token }, async (i, cancellationToken) =>
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(server.EndPoint, cancellationToken);
            switch (i % 4)
            {
                case 0:
                    break; // vanish at once
                case 1:
                    await socket.ReceiveAsync(new byte[8], SocketFlags.None, cancellationToken); // half the greeting
                    break;
                case 2:
                    socket.LingerState = new LingerOption(true, 0); // reset
                    break;
                default:
                    await socket.SendAsync(new byte[] { 0, 0, 0, 3, 0x49 }, SocketFlags.None, cancellationToken); // flags, then a scrap
                    break;
            }
        });

        await server.WaitForNoConnectionsAsync(TimeSpan.FromSeconds(30));
        await AssertServerWorksAsync(server);
    }

    [Fact]
    public async Task ClientThatNeverReadsReplies_BoundsServerBuffering()
    {
        const long Limit = 32L << 20;
        await using NbdTestServer server = await NbdTestServer.StartAsync(
            "memory_backed=1,size=512M,irqmode=0",
            options => options with { MaxBufferedBytesPerConnection = Limit, MaxInFlightPerConnection = 64 });
        await using RawNbdClient stuck = await RawNbdClient.OpenAsync(server.EndPoint);
        stuck.Socket.ReceiveBufferSize = 64 * 1024;

        // 2,000 reads of 1 MiB each: 2 GiB of replies the client never reads.
        var batch = new List<byte>();
        for (int i = 0; i < 2000; i++)
        {
            byte[] header = new byte[28];
            BinaryPrimitives.WriteUInt32BigEndian(header, RawNbdClient.RequestMagic);
            BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(8), (ulong)i);
            BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(16), (ulong)(i % 500) << 20);
            BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(24), 1 << 20);
            batch.AddRange(header);
        }

        await stuck.SendAsync([.. batch]);
        Nbd.NbdServer nbd = server.Server;
        for (int i = 0; i < 100 && !nbd.Connections.Any(static c => c.BufferedBytes >= Limit - (1 << 20) || c.InFlight >= 64); i++)
        {
            await Task.Delay(20);
        }

        await Task.Delay(300);
        long peak = nbd.Connections.Max(static c => c.PeakBufferedBytes);
        Assert.InRange(peak, 1 << 20, Limit);
        Assert.All(nbd.Connections, static c => Assert.InRange(c.InFlight, 0, 64));

        // Other clients are served meanwhile.
        await AssertServerWorksAsync(server);

        // Closing the stuck client frees everything.
        stuck.Socket.LingerState = new LingerOption(true, 0);
        await stuck.DisposeAsync();
        await server.WaitForNoConnectionsAsync();
        await server.AssertNoLeaksAsync();
    }

    [Fact]
    public async Task MaxConnections_RefusesTheExtraClient()
    {
        await using NbdTestServer server = await NbdTestServer.StartAsync(configure: static o => o with { MaxConnections = 2 });
        await using RawNbdClient first = await RawNbdClient.OpenAsync(server.EndPoint);
        await using RawNbdClient second = await RawNbdClient.OpenAsync(server.EndPoint);
        await using (RawNbdClient third = await RawNbdClient.ConnectAsync(server.EndPoint))
        {
            Assert.True(await third.WaitForCloseAsync());
        }

        await first.SendRequestAsync(RawNbdClient.CmdRead, 1, 0, 512);
        Assert.Equal(0U, (await first.ReadReplyAsync(512)).Error);
    }

    [Fact]
    public async Task StopAsync_WithClientsConnected_FinishesAndLeaksNothing()
    {
        NbdTestServer server = await NbdTestServer.StartAsync("memory_backed=1,size=64M,irqmode=2,completion_nsec=1000000");
        await using RawNbdClient busy = await RawNbdClient.OpenAsync(server.EndPoint);
        await using RawNbdClient idle = await RawNbdClient.ConnectAsync(server.EndPoint);
        for (int i = 0; i < 20; i++)
        {
            await busy.SendRequestAsync(RawNbdClient.CmdRead, (ulong)i, (ulong)i * 4096, 4096);
        }

        await server.DisposeAsync();
        Assert.True(await busy.WaitForCloseAsync());
        Assert.True(await idle.WaitForCloseAsync());
    }

    [Fact]
    public async Task NullExportReads_NeverReturnAnotherClientsData()
    {
        await using NbdTestServer server = await NbdTestServer.StartAsync([("secret", "memory_backed=1,size=16M,irqmode=0", false), ("null", "size=16M,irqmode=0", false)]);
        await using RawNbdClient writer = await RawNbdClient.OpenAsync(server.EndPoint, export: "secret");
        await using RawNbdClient reader = await RawNbdClient.OpenAsync(server.EndPoint, export: "null");
        byte[] secret = Enumerable.Repeat((byte)0x5e, 65536).ToArray();
        for (int i = 0; i < 20; i++)
        {
            await writer.SendRequestAsync(RawNbdClient.CmdWrite, 1, 0, 65536, 0, secret);
            Assert.Equal(0U, (await writer.ReadReplyAsync()).Error);
            await writer.SendRequestAsync(RawNbdClient.CmdRead, 2, 0, 65536);
            Assert.Equal(secret, (await writer.ReadReplyAsync(65536)).Data);
            await reader.SendRequestAsync(RawNbdClient.CmdRead, 3, 0, 65536);
            byte[] data = (await reader.ReadReplyAsync(65536)).Data;
            Assert.True(data.AsSpan().IndexOfAnyExcept((byte)0) < 0, "a null export's read returned stale buffer contents");
        }
    }

    internal static async Task AssertServerWorksAsync(NbdTestServer server)
    {
        await using RawNbdClient client = await RawNbdClient.OpenAsync(server.EndPoint, structured: true);
        byte[] data = Encoding.ASCII.GetBytes(new string('q', 4096));
        await client.SendRequestAsync(RawNbdClient.CmdWrite, 1, 1 << 20, 4096, RawNbdClient.FlagFua, data);
        Assert.Equal(0U, (await client.ReadReplyAsync()).Error);
        await client.SendRequestAsync(RawNbdClient.CmdRead, 2, 1 << 20, 4096, RawNbdClient.FlagDf);
        NbdReply read = await client.ReadReplyAsync();
        Assert.Equal(data, read.Chunks.Single().Payload[8..]);
        await client.SendRequestAsync(RawNbdClient.CmdDisc, 3, 0, 0);
        Assert.True(await client.WaitForCloseAsync());
    }
}
