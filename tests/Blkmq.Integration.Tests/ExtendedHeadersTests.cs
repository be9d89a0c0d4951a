using System.Buffers.Binary;
using System.Text;
using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests;

/// <summary>The extended-headers extension (32-byte requests and replies, 64-bit lengths), from a raw socket.</summary>
public sealed class ExtendedHeadersTests
{
    [Fact]
    public async Task ExtendedHeaders_WriteReadFlushAndBlockStatus()
    {
        await using NbdTestServer server = await NbdTestServer.StartAsync();
        await using RawNbdClient client = await RawNbdClient.OpenAsync(server.EndPoint, extended: true, metaContext: true);
        Assert.NotEqual(0, client.TransmissionFlags & (1 << 12)); // BLOCK_STATUS_PAYLOAD
        Assert.NotEqual(0, client.TransmissionFlags & (1 << 7)); // DF

        byte[] data = new byte[8192];
        new Random(3).NextBytes(data);
        await client.SendRequestAsync(RawNbdClient.CmdWrite, 1, 65536, 8192, RawNbdClient.FlagPayloadLength, data);
        NbdReply write = await client.ReadReplyAsync();
        Assert.Equal(0U, write.Error);
        ReplyChunk none = Assert.Single(write.Chunks);
        Assert.Equal(0, none.Type); // NBD_REPLY_TYPE_NONE: no simple replies under extended headers

        await client.SendRequestAsync(RawNbdClient.CmdRead, 2, 65536, 8192);
        NbdReply read = await client.ReadReplyAsync();
        ReplyChunk chunk = Assert.Single(read.Chunks);
        Assert.Equal(1, chunk.Type);
        Assert.Equal(65536UL, BinaryPrimitives.ReadUInt64BigEndian(chunk.Payload));
        Assert.Equal(data, chunk.Payload[8..]);

        await client.SendRequestAsync(RawNbdClient.CmdFlush, 3, 0, 0);
        Assert.Equal(0U, (await client.ReadReplyAsync()).Error);

        await client.SendRequestAsync(RawNbdClient.CmdBlockStatus, 4, 0, 1 << 20);
        ReplyChunk status = Assert.Single((await client.ReadReplyAsync()).Chunks);
        Assert.Equal(6, status.Type); // BLOCK_STATUS_EXT
        Assert.Equal(1U, BinaryPrimitives.ReadUInt32BigEndian(status.Payload));
        uint count = BinaryPrimitives.ReadUInt32BigEndian(status.Payload.AsSpan(4));
        Assert.Equal(3U, count);
        Assert.Equal(8 + (16 * (int)count), status.Payload.Length);
        Assert.Equal(65536UL, BinaryPrimitives.ReadUInt64BigEndian(status.Payload.AsSpan(8)));
        Assert.Equal(3UL, BinaryPrimitives.ReadUInt64BigEndian(status.Payload.AsSpan(16)));
        Assert.Equal(8192UL, BinaryPrimitives.ReadUInt64BigEndian(status.Payload.AsSpan(24)));
        Assert.Equal(0UL, BinaryPrimitives.ReadUInt64BigEndian(status.Payload.AsSpan(32)));

        // The payload form: effect length and the context ids in the payload.
        byte[] ids = new byte[12];
        BinaryPrimitives.WriteUInt64BigEndian(ids, 65536);
        BinaryPrimitives.WriteUInt32BigEndian(ids.AsSpan(8), 1);
        await client.SendRequestAsync(RawNbdClient.CmdBlockStatus, 5, 65536, 12, RawNbdClient.FlagPayloadLength, ids);
        ReplyChunk filtered = Assert.Single((await client.ReadReplyAsync()).Chunks);
        Assert.Equal(8192UL, BinaryPrimitives.ReadUInt64BigEndian(filtered.Payload.AsSpan(8)));
        BinaryPrimitives.WriteUInt32BigEndian(ids.AsSpan(8), 77);
        await client.SendRequestAsync(RawNbdClient.CmdBlockStatus, 6, 65536, 12, RawNbdClient.FlagPayloadLength, ids);
        Assert.Equal(RawNbdClient.Einval, (await client.ReadReplyAsync()).Error);

        // A payload on a command that takes none is read and refused.
        await client.SendRequestAsync(RawNbdClient.CmdTrim, 7, 0, 16, RawNbdClient.FlagPayloadLength, new byte[16]);
        Assert.Equal(RawNbdClient.Einval, (await client.ReadReplyAsync()).Error);
        await client.SendRequestAsync(RawNbdClient.CmdRead, 8, 65536, 4096);
        Assert.Equal(0U, (await client.ReadReplyAsync()).Error);
    }

    [Fact]
    public async Task ExtendedHeaders_64BitEffectLengths()
    {
        await using NbdTestServer server = await NbdTestServer.StartAsync("size=8G,discard=1,irqmode=0");
        await using RawNbdClient client = await RawNbdClient.OpenAsync(server.EndPoint, extended: true, metaContext: true);
        const ulong Five = 5UL << 30;
        await client.SendRequestAsync(RawNbdClient.CmdTrim, 1, 0, Five);
        Assert.Equal(0U, (await client.ReadReplyAsync()).Error);
        await client.SendRequestAsync(RawNbdClient.CmdWriteZeroes, 2, 1UL << 30, Five);
        Assert.Equal(0U, (await client.ReadReplyAsync()).Error);
        await client.SendRequestAsync(RawNbdClient.CmdBlockStatus, 3, 0, Five);
        ReplyChunk status = Assert.Single((await client.ReadReplyAsync()).Chunks);
        Assert.Equal(Five, BinaryPrimitives.ReadUInt64BigEndian(status.Payload.AsSpan(8)));
        await client.SendRequestAsync(RawNbdClient.CmdTrim, 4, 4UL << 30, Five);
        Assert.Equal(RawNbdClient.Einval, (await client.ReadReplyAsync()).Error);
    }

    [Fact]
    public async Task ExtendedHeaders_WriteWithoutPayloadFlag_Disconnects()
    {
        await using NbdTestServer server = await NbdTestServer.StartAsync();
        await using (RawNbdClient client = await RawNbdClient.OpenAsync(server.EndPoint, extended: true))
        {
            await client.SendRequestAsync(RawNbdClient.CmdWrite, 1, 0, 4096, 0, new byte[4096]);
            Assert.True(await client.WaitForCloseAsync());
        }

        await BadInputTests.AssertServerWorksAsync(server);
    }

    [Fact]
    public async Task ExtendedHeaders_RefuseStructuredDowngradeAndExportName()
    {
        await using NbdTestServer server = await NbdTestServer.StartAsync();
        await using RawNbdClient client = await RawNbdClient.ConnectAsync(server.EndPoint);
        await client.GreetAsync();
        Assert.Equal(RawNbdClient.RepAck, Assert.Single(await client.OptionAsync(RawNbdClient.OptExtendedHeaders, [])).Type);
        Assert.Equal(0x8000000aU, Assert.Single(await client.OptionAsync(RawNbdClient.OptStructuredReply, [])).Type);
        Assert.Equal(RawNbdClient.RepErrInvalid, Assert.Single(await client.OptionAsync(RawNbdClient.OptExtendedHeaders, [])).Type);
        await client.SendOptionAsync(RawNbdClient.OptExportName, Encoding.UTF8.GetBytes("disk"));
        Assert.True(await client.WaitForCloseAsync());
    }
}
