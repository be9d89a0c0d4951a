using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Blkmq.Integration.Tests.Infrastructure;

/// <summary>
/// A deliberately small NBD client on a raw socket, for tests that send what real clients never would. Every read
/// has a time limit, so a server that fails to answer fails the test instead of hanging it.
/// </summary>
internal sealed class RawNbdClient : IAsyncDisposable
{
    public const ulong InitPasswd = 0x4e42444d41474943;
    public const ulong OptionMagic = 0x49484156454F5054;
    public const ulong OptionReplyMagic = 0x3e889045565a9;
    public const uint RequestMagic = 0x25609513;
    public const uint ExtendedRequestMagic = 0x21e41c71;
    public const uint SimpleReplyMagic = 0x67446698;
    public const uint StructuredReplyMagic = 0x668e33ef;
    public const uint ExtendedReplyMagic = 0x6e8a278c;

    public const uint OptExportName = 1;
    public const uint OptAbort = 2;
    public const uint OptList = 3;
    public const uint OptStartTls = 5;
    public const uint OptInfo = 6;
    public const uint OptGo = 7;
    public const uint OptStructuredReply = 8;
    public const uint OptListMetaContext = 9;
    public const uint OptSetMetaContext = 10;
    public const uint OptExtendedHeaders = 11;

    public const uint RepAck = 1;
    public const uint RepServer = 2;
    public const uint RepInfo = 3;
    public const uint RepMetaContext = 4;
    public const uint RepErrUnsup = 0x80000001;
    public const uint RepErrPolicy = 0x80000002;
    public const uint RepErrInvalid = 0x80000003;
    public const uint RepErrTlsReqd = 0x80000005;
    public const uint RepErrUnknown = 0x80000006;
    public const uint RepErrTooBig = 0x80000009;

    public const ushort CmdRead = 0;
    public const ushort CmdWrite = 1;
    public const ushort CmdDisc = 2;
    public const ushort CmdFlush = 3;
    public const ushort CmdTrim = 4;
    public const ushort CmdCache = 5;
    public const ushort CmdWriteZeroes = 6;
    public const ushort CmdBlockStatus = 7;

    public const ushort FlagFua = 1;
    public const ushort FlagNoHole = 2;
    public const ushort FlagDf = 4;
    public const ushort FlagReqOne = 8;
    public const ushort FlagFastZero = 16;
    public const ushort FlagPayloadLength = 32;

    public const uint Eperm = 1;
    public const uint Einval = 22;
    public const uint Enospc = 28;
    public const uint Enotsup = 95;

    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(15);
    private readonly Socket _socket;
    private readonly NetworkStream _stream;

    private RawNbdClient(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
    }

    public bool Extended { get; private set; }

    public bool Structured { get; private set; }

    public ulong ExportSize { get; private set; }

    public ushort TransmissionFlags { get; private set; }

    public uint MinimumBlockSize { get; private set; }

    public uint MaximumPayload { get; private set; }

    public Socket Socket => _socket;

    /// <summary>Connects over TCP (an <see cref="IPEndPoint"/>) or a Unix socket (a <see cref="UnixDomainSocketEndPoint"/>).</summary>
    public static async Task<RawNbdClient> ConnectAsync(EndPoint endPoint)
    {
        Socket socket = endPoint is UnixDomainSocketEndPoint
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endPoint);
        return new RawNbdClient(socket);
    }

    /// <summary>Reads the greeting and sends the client flags (fixed newstyle, no zeroes).</summary>
    public async Task GreetAsync()
    {
        byte[] greeting = await ReadExactAsync(18);
        Assert.Equal(InitPasswd, BinaryPrimitives.ReadUInt64BigEndian(greeting));
        Assert.Equal(OptionMagic, BinaryPrimitives.ReadUInt64BigEndian(greeting.AsSpan(8)));
        Assert.Equal(3, BinaryPrimitives.ReadUInt16BigEndian(greeting.AsSpan(16)));
        await SendAsync(BigEndian32(3));
    }

    /// <summary>Connects, greets, optionally negotiates structured replies / extended headers / base:allocation, and sends NBD_OPT_GO.</summary>
    public static async Task<RawNbdClient> OpenAsync(EndPoint endPoint, string export = "disk", bool structured = false, bool extended = false, bool metaContext = false)
    {
        RawNbdClient client = await ConnectAsync(endPoint);
        await client.GreetAsync();
        if (extended)
        {
            Assert.Equal(RepAck, (await client.OptionAsync(OptExtendedHeaders, [])).Single().Type);
            client.Extended = true;
        }
        else if (structured)
        {
            Assert.Equal(RepAck, (await client.OptionAsync(OptStructuredReply, [])).Single().Type);
            client.Structured = true;
        }

        if (metaContext)
        {
            List<OptionReply> replies = await client.OptionAsync(OptSetMetaContext, MetaContextData(export, "base:allocation"));
            Assert.Equal(RepAck, replies[^1].Type);
            Assert.Equal(2, replies.Count);
        }

        List<OptionReply> go = await client.OptionAsync(OptGo, GoData(export, 3));
        Assert.True(go[^1].Type == RepAck, $"NBD_OPT_GO failed with 0x{go[^1].Type:x}: {Encoding.UTF8.GetString(go[^1].Data)}");
        foreach (OptionReply reply in go.Where(static r => r.Type == RepInfo))
        {
            ushort info = BinaryPrimitives.ReadUInt16BigEndian(reply.Data);
            if (info == 0)
            {
                client.ExportSize = BinaryPrimitives.ReadUInt64BigEndian(reply.Data.AsSpan(2));
                client.TransmissionFlags = BinaryPrimitives.ReadUInt16BigEndian(reply.Data.AsSpan(10));
            }
            else if (info == 3)
            {
                client.MinimumBlockSize = BinaryPrimitives.ReadUInt32BigEndian(reply.Data.AsSpan(2));
                client.MaximumPayload = BinaryPrimitives.ReadUInt32BigEndian(reply.Data.AsSpan(10));
            }
        }

        return client;
    }

    public static byte[] GoData(string export, params ushort[] infos)
    {
        byte[] name = Encoding.UTF8.GetBytes(export);
        byte[] data = new byte[4 + name.Length + 2 + (2 * infos.Length)];
        BinaryPrimitives.WriteUInt32BigEndian(data, (uint)name.Length);
        name.CopyTo(data, 4);
        BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(4 + name.Length), (ushort)infos.Length);
        for (int i = 0; i < infos.Length; i++)
        {
            BinaryPrimitives.WriteUInt16BigEndian(data.AsSpan(6 + name.Length + (2 * i)), infos[i]);
        }

        return data;
    }

    public static byte[] MetaContextData(string export, params string[] queries)
    {
        var data = new List<byte>();
        byte[] name = Encoding.UTF8.GetBytes(export);
        data.AddRange(BigEndian32((uint)name.Length));
        data.AddRange(name);
        data.AddRange(BigEndian32((uint)queries.Length));
        foreach (string query in queries)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(query);
            data.AddRange(BigEndian32((uint)bytes.Length));
            data.AddRange(bytes);
        }

        return [.. data];
    }

    /// <summary>Sends an option and reads replies up to the final one (an ACK or an error).</summary>
    public async Task<List<OptionReply>> OptionAsync(uint option, byte[] data)
    {
        await SendOptionAsync(option, data);
        var replies = new List<OptionReply>();
        while (true)
        {
            OptionReply reply = await ReadOptionReplyAsync();
            Assert.Equal(option, reply.Option);
            replies.Add(reply);
            if (reply.Type is RepAck || (reply.Type & 0x80000000) != 0)
            {
                return replies;
            }
        }
    }

    public async Task SendOptionAsync(uint option, byte[] data, uint? lengthOverride = null)
    {
        byte[] header = new byte[16];
        BinaryPrimitives.WriteUInt64BigEndian(header, OptionMagic);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(8), option);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(12), lengthOverride ?? (uint)data.Length);
        await SendAsync([.. header, .. data]);
    }

    public async Task<OptionReply> ReadOptionReplyAsync()
    {
        byte[] header = await ReadExactAsync(20);
        Assert.Equal(OptionReplyMagic, BinaryPrimitives.ReadUInt64BigEndian(header));
        uint option = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(8));
        uint type = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(12));
        uint length = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(16));
        byte[] data = length == 0 ? [] : await ReadExactAsync((int)length);
        return new OptionReply(option, type, data);
    }

    /// <summary>Sends a request header (compact or extended as negotiated) and an optional payload.</summary>
    public async Task SendRequestAsync(ushort type, ulong cookie, ulong offset, ulong length, ushort flags = 0, byte[]? payload = null, uint? magic = null)
    {
        byte[] header = RequestHeader(type, cookie, offset, length, flags, magic);
        await SendAsync(payload is null ? header : [.. header, .. payload]);
    }

    /// <summary>A request header, compact or extended as negotiated, for a client that batches its requests.</summary>
    public byte[] RequestHeader(ushort type, ulong cookie, ulong offset, ulong length, ushort flags = 0, uint? magic = null)
    {
        byte[] header = new byte[Extended ? 32 : 28];
        BinaryPrimitives.WriteUInt32BigEndian(header, magic ?? (Extended ? ExtendedRequestMagic : RequestMagic));
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(4), flags);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(6), type);
        BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(8), cookie);
        BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(16), offset);
        if (Extended)
        {
            BinaryPrimitives.WriteUInt64BigEndian(header.AsSpan(24), length);
        }
        else
        {
            BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(24), (uint)length);
        }

        return header;
    }

    /// <summary>Reads one whole reply: a simple reply (with <paramref name="readLength"/> bytes of data when it is an
    /// OK read) or all chunks of a structured / extended reply up to the DONE flag.</summary>
    public async Task<NbdReply> ReadReplyAsync(int readLength = 0)
    {
        var chunks = new List<ReplyChunk>();
        while (true)
        {
            byte[] magicBytes = await ReadExactAsync(4);
            uint magic = BinaryPrimitives.ReadUInt32BigEndian(magicBytes);
            if (magic == SimpleReplyMagic)
            {
                byte[] rest = await ReadExactAsync(12);
                uint error = BinaryPrimitives.ReadUInt32BigEndian(rest);
                ulong cookie = BinaryPrimitives.ReadUInt64BigEndian(rest.AsSpan(4));
                byte[] data = error == 0 && readLength > 0 ? await ReadExactAsync(readLength) : [];
                return new NbdReply(cookie, error, data, []);
            }

            ushort flags;
            ushort type;
            ulong chunkCookie;
            long length;
            if (magic == StructuredReplyMagic)
            {
                byte[] rest = await ReadExactAsync(16);
                flags = BinaryPrimitives.ReadUInt16BigEndian(rest);
                type = BinaryPrimitives.ReadUInt16BigEndian(rest.AsSpan(2));
                chunkCookie = BinaryPrimitives.ReadUInt64BigEndian(rest.AsSpan(4));
                length = BinaryPrimitives.ReadUInt32BigEndian(rest.AsSpan(12));
            }
            else if (magic == ExtendedReplyMagic)
            {
                byte[] rest = await ReadExactAsync(28);
                flags = BinaryPrimitives.ReadUInt16BigEndian(rest);
                type = BinaryPrimitives.ReadUInt16BigEndian(rest.AsSpan(2));
                chunkCookie = BinaryPrimitives.ReadUInt64BigEndian(rest.AsSpan(4));
                length = (long)BinaryPrimitives.ReadUInt64BigEndian(rest.AsSpan(20));
            }
            else
            {
                throw new InvalidDataException($"bad reply magic 0x{magic:x8}");
            }

            byte[] payload = length == 0 ? [] : await ReadExactAsync((int)length);
            chunks.Add(new ReplyChunk(flags, type, payload));
            if ((flags & 1) != 0)
            {
                uint error = 0;
                foreach (ReplyChunk chunk in chunks.Where(static c => (c.Type & 0x8000) != 0))
                {
                    error = BinaryPrimitives.ReadUInt32BigEndian(chunk.Payload);
                }

                return new NbdReply(chunkCookie, error, [], chunks);
            }
        }
    }

    public async Task SendAsync(byte[] bytes)
    {
        using var cts = new CancellationTokenSource(s_timeout);
        await _stream.WriteAsync(bytes, cts.Token);
    }

    public async Task<byte[]> ReadExactAsync(int count)
    {
        byte[] buffer = new byte[count];
        using var cts = new CancellationTokenSource(s_timeout);
        await _stream.ReadExactlyAsync(buffer, cts.Token);
        return buffer;
    }

    /// <summary>Reads until the server closes the connection (true) or the time limit passes (false).</summary>
    public async Task<bool> WaitForCloseAsync()
    {
        byte[] buffer = new byte[4096];
        using var cts = new CancellationTokenSource(s_timeout);
        try
        {
            while (await _stream.ReadAsync(buffer, cts.Token) > 0)
            {
            }

            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        catch (IOException)
        {
            return true;
        }
    }

    public static byte[] BigEndian32(uint value)
    {
        byte[] bytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return bytes;
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
    }
}

internal sealed record OptionReply(uint Option, uint Type, byte[] Data);

internal sealed record ReplyChunk(ushort Flags, ushort Type, byte[] Payload);

internal sealed record NbdReply(ulong Cookie, uint Error, byte[] Data, List<ReplyChunk> Chunks);
