using System.Net.Sockets;
using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests;

/// <summary>
/// Over a Unix socket with one connection, writes of 512 KiB and more start their IO from the thread pool so the reader
/// keeps draining the socket (NbdConnection.OffReaderWriteBytes): each is still answered once, with its own cookie, lands whole next to
/// the small writes sent between them, and is finished before the server closes a connection that disconnects
/// without waiting for its replies.
/// </summary>
public sealed class UnixLargeWriteTests
{
    private const int Large = 1 << 20;
    private const int Count = 16;

    [Fact]
    public async Task LargeAndSmallWritesPipelined_EachAnsweredOnce_AllReadBack()
    {
        await using NbdTestServer server = await NbdTestServer.StartAsync("memory_backed=1,size=64M,bs=4096,irqmode=0", unixSocket: true);
        await using RawNbdClient client = await RawNbdClient.OpenAsync(new UnixDomainSocketEndPoint(server.UnixPath!));
        byte[] expected = new byte[2 * Count * Large];
        var sent = new HashSet<ulong>();
        Task sending = Task.Run(async () =>
        {
            // Large writes in the first half, a 4 KiB write into the second half after each; every fourth large one FUA,
            // and one large write past the end (refused with ENOSPC before it reaches the disk).
            for (int i = 0; i < Count; i++)
            {
                byte[] large = TestFiles.Pattern(Large, i);
                large.CopyTo(expected, i * Large);
                await client.SendRequestAsync(RawNbdClient.CmdWrite, (ulong)(2 * i), (ulong)(i * Large), Large, i % 4 == 0 ? RawNbdClient.FlagFua : (ushort)0, large);
                byte[] small = TestFiles.Pattern(4096, 1000 + i);
                small.CopyTo(expected, (Count + i) * Large);
                await client.SendRequestAsync(RawNbdClient.CmdWrite, (ulong)((2 * i) + 1), (ulong)((Count + i) * Large), 4096, payload: small);
            }

            await client.SendRequestAsync(RawNbdClient.CmdWrite, 999, (64UL << 20) - 4096, Large, payload: new byte[Large]);
        }, TestContext.Current.CancellationToken);

        var answered = new Dictionary<ulong, uint>();
        for (int i = 0; i < (2 * Count) + 1; i++)
        {
            NbdReply reply = await client.ReadReplyAsync();
            Assert.True(answered.TryAdd(reply.Cookie, reply.Error), $"cookie {reply.Cookie} answered twice");
        }

        await sending;
        Assert.Equal(RawNbdClient.Enospc, answered[999]);   // the protocol's answer to a write past the end
        Assert.All(answered.Where(static a => a.Key != 999), static a => Assert.Equal(0u, a.Value));
        await client.SendRequestAsync(RawNbdClient.CmdFlush, 5000, 0, 0);
        Assert.Equal(0u, (await client.ReadReplyAsync()).Error);

        for (int i = 0; i < 2 * Count; i++)
        {
            await client.SendRequestAsync(RawNbdClient.CmdRead, (ulong)(6000 + i), (ulong)(i * Large), Large);
            NbdReply read = await client.ReadReplyAsync(Large);
            Assert.Equal(0u, read.Error);
            Assert.True(expected.AsSpan(i * Large, Large).SequenceEqual(read.Data), $"MiB {i} differs");
        }
    }

    [Fact]
    public async Task DisconnectRightAfterLargeWrites_TheyLandBeforeTheServerCloses()
    {
        await using NbdTestServer server = await NbdTestServer.StartAsync("memory_backed=1,size=64M,bs=4096,irqmode=1,completion_nsec=200000", unixSocket: true);
        var endPoint = new UnixDomainSocketEndPoint(server.UnixPath!);
        await using (RawNbdClient writer = await RawNbdClient.OpenAsync(endPoint))
        {
            for (int i = 0; i < Count; i++)
            {
                await writer.SendRequestAsync(RawNbdClient.CmdWrite, (ulong)i, (ulong)(i * Large), Large, payload: TestFiles.Pattern(Large, 50 + i));
            }

            // No reply read: the server must still finish every write it received before it closes.
            await writer.SendRequestAsync(RawNbdClient.CmdDisc, 100, 0, 0);
            Assert.True(await writer.WaitForCloseAsync(), "the server did not close after NBD_CMD_DISC");
        }

        await using RawNbdClient reader = await RawNbdClient.OpenAsync(endPoint);
        for (int i = 0; i < Count; i++)
        {
            await reader.SendRequestAsync(RawNbdClient.CmdRead, (ulong)i, (ulong)(i * Large), Large);
            NbdReply read = await reader.ReadReplyAsync(Large);
            Assert.Equal(0u, read.Error);
            Assert.Equal(TestFiles.Pattern(Large, 50 + i), read.Data);
        }

        await server.AssertNoLeaksAsync();
    }
}
