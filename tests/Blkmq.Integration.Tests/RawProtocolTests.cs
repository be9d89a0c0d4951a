using System.Buffers.Binary;
using System.Text;
using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests;

/// <summary>The handshake and transmission core, driven byte by byte from a raw socket.</summary>
public sealed class RawProtocolTests
{
    [Fact]
    public async Task Go_ReportsSizeFlagsAndBlockSizes()
    {
        await using NbdTestServer server = await NbdTestServer.StartAsync("memory_backed=1,discard=1,size=64M,bs=4096,irqmode=0");
        await using RawNbdClient client = await RawNbdClient.OpenAsync(server.EndPoint, structured: true);
        Assert.Equal(64UL << 20, client.ExportSize);
        Assert.Equal(4096U, client.MinimumBlockSize);
        Assert.Equal(32U << 20, client.MaximumPayload);
        ushort flags = client.TransmissionFlags;
        Assert.Equal(1, flags & 1); // HAS_FLAGS
        Assert.Equal(0, flags & 2); // not read-only
        Assert.NotEqual(0, flags & (1 << 2)); // SEND_FLUSH
        Assert.NotEqual(0, flags & (1 << 3)); // SEND_FUA
        Assert.NotEqual(0, flags & (1 << 5)); // SEND_TRIM
        Assert.NotEqual(0, flags & (1 << 6)); // SEND_WRITE_ZEROES
        Assert.NotEqual(0, flags & (1 << 7)); // SEND_DF (structured)
        Assert.NotEqual(0, flags & (1 << 8)); // CAN_MULTI_CONN
        Assert.NotEqual(0, flags & (1 << 10)); // SEND_CACHE
        Assert.NotEqual(0, flags & (1 << 11)); // SEND_FAST_ZERO
        await client.SendRequestAsync(RawNbdClient.CmdDisc, 1, 0, 0);
        Assert.True(await client.WaitForCloseAsync());
    }

    [Fact]
    public async Task ReadOnlyNullExport_AdvertisesReadOnlyWithoutTrim()
    {
        await using NbdTestServer server = await NbdTestServer.StartAsync("size=16M,irqmode=0", readOnly: true);
        await using RawNbdClient client = await RawNbdClient.OpenAsync(server.EndPoint);
        Assert.NotEqual(0, client.TransmissionFlags & 2);
        Assert.Equal(0, client.TransmissionFlags & (1 << 5));
        Assert.Equal(0, client.TransmissionFlags & (1 << 6));
        Assert.Equal(0, client.TransmissionFlags & (1 << 7)); // no DF without structured replies
    }

    [Fact]
    public async Task WriteThenRead_SimpleReplies_RoundTrip()
    {
        await using NbdTestServer server = await NbdTestServer.StartAsync();
        await using RawNbdClient client = await RawNbdClient.OpenAsync(server.EndPoint);
        byte[] data = new byte[8192];
        Random.Shared.NextBytes(data);
        await client.SendRequestAsync(RawNbdClient.CmdWrite, 7, 4096, (ulong)data.Length, RawNbdClient.FlagFua, data);
        NbdReply write = await client.ReadReplyAsync();
        Assert.Equal(7UL, write.Cookie);
        Assert.Equal(0U, write.Error);
        await client.SendRequestAsync(RawNbdClient.CmdFlush, 8, 0, 0);
        Assert.Equal(0U, (await client.ReadReplyAsync()).Error);
        await client.SendRequestAsync(RawNbdClient.CmdRead, 9, 4096, (ulong)data.Length);
        NbdReply read = await client.ReadReplyAsync(data.Length);
        Assert.Equal(9UL, read.Cookie);
        Assert.Equal(data, read.Data);
        await client.SendRequestAsync(RawNbdClient.CmdCache, 10, 0, 65536);
        Assert.Equal(0U, (await client.ReadReplyAsync()).Error);
    }

    [Fact]
    public async Task StructuredRead_SplitsHolesFromData()
    {
        await using NbdTestServer server = await NbdTestServer.StartAsync();
        await using RawNbdClient client = await RawNbdClient.OpenAsync(server.EndPoint, structured: true);
        byte[] data = new byte[4096];
        Array.Fill(data, (byte)0xAB);
        await client.SendRequestAsync(RawNbdClient.CmdWrite, 1, 8192, 4096, 0, data);
        Assert.Equal(0U, (await client.ReadReplyAsync()).Error);

        // All hole: one OFFSET_HOLE chunk.
        await client.SendRequestAsync(RawNbdClient.CmdRead, 2, 1 << 20, 65536);
        NbdReply hole = await client.ReadReplyAsync();
        Assert.Equal(0U, hole.Error);
        ReplyChunk only = Assert.Single(hole.Chunks);
        Assert.Equal(2, only.Type);
        Assert.Equal(1UL << 20, BinaryPrimitives.ReadUInt64BigEndian(only.Payload));
        Assert.Equal(65536U, BinaryPrimitives.ReadUInt32BigEndian(only.Payload.AsSpan(8)));

        // Hole, data, hole.
        await client.SendRequestAsync(RawNbdClient.CmdRead, 3, 0, 16384);
        NbdReply mixed = await client.ReadReplyAsync();
        Assert.Equal(0U, mixed.Error);
        Assert.Equal([2, 1, 2], mixed.Chunks.Select(static c => (int)c.Type));
        ReplyChunk dataChunk = mixed.Chunks[1];
        Assert.Equal(8192UL, BinaryPrimitives.ReadUInt64BigEndian(dataChunk.Payload));
        Assert.Equal(data, dataChunk.Payload[8..]);

        // Don't fragment: one data chunk with the zeroes present.
        await client.SendRequestAsync(RawNbdClient.CmdRead, 4, 0, 16384, RawNbdClient.FlagDf);
        NbdReply whole = await client.ReadReplyAsync();
        ReplyChunk single = Assert.Single(whole.Chunks);
        Assert.Equal(1, single.Type);
        Assert.Equal(16384 + 8, single.Payload.Length);
        Assert.Equal(data, single.Payload.AsSpan(8 + 8192, 4096).ToArray());
    }

    [Fact]
    public async Task BlockStatus_ReportsAllocationAfterWriteTrimAndZero()
    {
        await using NbdTestServer server = await NbdTestServer.StartAsync();
        await using RawNbdClient client = await RawNbdClient.OpenAsync(server.EndPoint, structured: true, metaContext: true);
        byte[] data = new byte[65536];
        Array.Fill(data, (byte)1);
        await client.SendRequestAsync(RawNbdClient.CmdWrite, 1, 0, 65536, 0, data);
        Assert.Equal(0U, (await client.ReadReplyAsync()).Error);
        await client.SendRequestAsync(RawNbdClient.CmdTrim, 2, 16384, 16384);
        Assert.Equal(0U, (await client.ReadReplyAsync()).Error);

        await client.SendRequestAsync(RawNbdClient.CmdBlockStatus, 3, 0, 131072);
        NbdReply status = await client.ReadReplyAsync();
        Assert.Equal(0U, status.Error);
        ReplyChunk chunk = Assert.Single(status.Chunks);
        Assert.Equal(5, chunk.Type);
        List<(uint Length, uint Flags)> extents = Extents(chunk.Payload);
        Assert.Equal([(16384U, 0U), (16384U, 3U), (32768U, 0U), (65536U, 3U)], extents);

        await client.SendRequestAsync(RawNbdClient.CmdBlockStatus, 4, 0, 131072, RawNbdClient.FlagReqOne);
        Assert.Equal([(16384U, 0U)], Extents(Assert.Single((await client.ReadReplyAsync()).Chunks).Payload));

        // WRITE_ZEROES may unmap: the range becomes a hole; with NO_HOLE it stays allocated but zero.
        await client.SendRequestAsync(RawNbdClient.CmdWriteZeroes, 5, 32768, 16384);
        Assert.Equal(0U, (await client.ReadReplyAsync()).Error);
        await client.SendRequestAsync(RawNbdClient.CmdWriteZeroes, 6, 49152, 16384, RawNbdClient.FlagNoHole | RawNbdClient.FlagFastZero);
        Assert.Equal(0U, (await client.ReadReplyAsync()).Error);
        await client.SendRequestAsync(RawNbdClient.CmdRead, 7, 0, 65536, RawNbdClient.FlagDf);
        byte[] read = Assert.Single((await client.ReadReplyAsync()).Chunks).Payload[8..];
        Assert.All(read.AsSpan(16384, 49152).ToArray(), static b => Assert.Equal(0, b));
        Assert.All(read.AsSpan(0, 16384).ToArray(), static b => Assert.Equal(1, b));
    }

    [Fact]
    public async Task ListInfoAndUnknownOptions_AnswerAndKeepTheConnection()
    {
        await using NbdTestServer server = await NbdTestServer.StartAsync([("disk", "size=16M,irqmode=0", false), ("second", "size=32M,irqmode=0", true)]);
        await using RawNbdClient client = await RawNbdClient.ConnectAsync(server.EndPoint);
        await client.GreetAsync();

        List<OptionReply> unknown = await client.OptionAsync(99, [1, 2, 3]);
        Assert.Equal(RawNbdClient.RepErrUnsup, Assert.Single(unknown).Type);

        List<OptionReply> list = await client.OptionAsync(RawNbdClient.OptList, []);
        Assert.Equal(RawNbdClient.RepAck, list[^1].Type);
        string[] names = list.Where(static r => r.Type == RawNbdClient.RepServer)
            .Select(static r => Encoding.UTF8.GetString(r.Data, 4, (int)BinaryPrimitives.ReadUInt32BigEndian(r.Data)))
            .ToArray();
        Assert.Equal(["disk", "second"], names);

        List<OptionReply> info = await client.OptionAsync(RawNbdClient.OptInfo, RawNbdClient.GoData("second", 1, 2, 3));
        Assert.Equal(RawNbdClient.RepAck, info[^1].Type);
        Assert.Contains(info, static r => r.Type == RawNbdClient.RepInfo && BinaryPrimitives.ReadUInt16BigEndian(r.Data) == 2
            && Encoding.UTF8.GetString(r.Data, 2, r.Data.Length - 2) == "test export second");
        OptionReply export = info.Single(static r => r.Type == RawNbdClient.RepInfo && BinaryPrimitives.ReadUInt16BigEndian(r.Data) == 0);
        Assert.Equal(32UL << 20, BinaryPrimitives.ReadUInt64BigEndian(export.Data.AsSpan(2)));
        Assert.NotEqual(0, BinaryPrimitives.ReadUInt16BigEndian(export.Data.AsSpan(10)) & 2);

        List<OptionReply> missing = await client.OptionAsync(RawNbdClient.OptGo, RawNbdClient.GoData("nope"));
        Assert.Equal(RawNbdClient.RepErrUnknown, Assert.Single(missing).Type);
        Assert.Contains("nope", Encoding.UTF8.GetString(missing[0].Data), StringComparison.Ordinal);

        // Meta contexts need structured replies first.
        Assert.Equal(RawNbdClient.RepErrInvalid, Assert.Single(await client.OptionAsync(RawNbdClient.OptSetMetaContext, RawNbdClient.MetaContextData("disk", "base:allocation"))).Type);
        Assert.Equal(RawNbdClient.RepAck, Assert.Single(await client.OptionAsync(RawNbdClient.OptStructuredReply, [])).Type);
        List<OptionReply> contexts = await client.OptionAsync(RawNbdClient.OptListMetaContext, RawNbdClient.MetaContextData("disk"));
        Assert.Equal("base:allocation", Encoding.UTF8.GetString(contexts[0].Data, 4, contexts[0].Data.Length - 4));
        Assert.Equal(RawNbdClient.RepErrPolicy, Assert.Single(await client.OptionAsync(RawNbdClient.OptStartTls, [])).Type);

        // The default export (empty name) is the first one.
        List<OptionReply> go = await client.OptionAsync(RawNbdClient.OptGo, RawNbdClient.GoData(string.Empty));
        Assert.Equal(RawNbdClient.RepAck, go[^1].Type);
        await client.SendRequestAsync(RawNbdClient.CmdRead, 1, 0, 4096);
        NbdReply read = await client.ReadReplyAsync();
        Assert.Equal(0U, read.Error);
    }

    [Fact]
    public async Task ExportName_EntersTransmissionWithoutZeroes()
    {
        await using NbdTestServer server = await NbdTestServer.StartAsync();
        await using RawNbdClient client = await RawNbdClient.ConnectAsync(server.EndPoint);
        await client.GreetAsync();
        await client.SendOptionAsync(RawNbdClient.OptExportName, Encoding.UTF8.GetBytes("disk"));
        byte[] reply = await client.ReadExactAsync(10);
        Assert.Equal(64UL << 20, BinaryPrimitives.ReadUInt64BigEndian(reply));
        await client.SendRequestAsync(RawNbdClient.CmdRead, 5, 0, 512);
        NbdReply read = await client.ReadReplyAsync(512);
        Assert.Equal(5UL, read.Cookie);
        Assert.Equal(new byte[512], read.Data);
    }

    [Fact]
    public async Task ManyRequestsInFlight_AllAnsweredOnce()
    {
        await using NbdTestServer server = await NbdTestServer.StartAsync("memory_backed=1,size=64M,irqmode=1,submit_queues=2");
        await using RawNbdClient client = await RawNbdClient.OpenAsync(server.EndPoint, structured: true);
        const int Count = 500;
        var expected = new Dictionary<ulong, byte>();
        var batch = new List<byte>();
        for (int i = 0; i < Count; i++)
        {
            byte fill = (byte)(i % 251);
            byte[] payload = new byte[4096];
            Array.Fill(payload, fill);
            expected[(ulong)i] = fill;
            byte[] header = new byte[28];
            BinaryPrimitives.WriteUInt32BigEndian(header, RawNbdClient.RequestMagic);
            BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(6), RawNbdClient.CmdWrite);
            BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(8), (ulong)i);
            BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(16), (ulong)i * 4096);
            BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(24), 4096);
            batch.AddRange(header);
            batch.AddRange(payload);
        }

        Task send = client.SendAsync([.. batch]);
        var seen = new HashSet<ulong>();
        for (int i = 0; i < Count; i++)
        {
            NbdReply reply = await client.ReadReplyAsync();
            Assert.Equal(0U, reply.Error);
            Assert.True(seen.Add(reply.Cookie));
        }

        await send;
        for (int i = 0; i < Count; i += 50)
        {
            await client.SendRequestAsync(RawNbdClient.CmdRead, 10_000, (ulong)i * 4096, 4096);
            ReplyChunk chunk = Assert.Single((await client.ReadReplyAsync()).Chunks);
            Assert.All(chunk.Payload[8..], b => Assert.Equal(expected[(ulong)i], b));
        }
    }

    internal static List<(uint Length, uint Flags)> Extents(byte[] payload)
    {
        var list = new List<(uint, uint)>();
        for (int at = 4; at < payload.Length; at += 8)
        {
            list.Add((BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(at)), BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(at + 4))));
        }

        return list;
    }
}
