namespace Blkmq.Nbd;

/// <summary>The NBD protocol's numbers (NetworkBlockDevice <c>doc/proto.md</c>, with the extended-headers extension).</summary>
internal static class NbdProtocol
{
    public const ulong InitPasswd = 0x4e42444d41474943; // "NBDMAGIC"
    public const ulong OptionMagic = 0x49484156454F5054; // "IHAVEOPT"
    public const ulong OptionReplyMagic = 0x3e889045565a9;
    public const uint RequestMagic = 0x25609513;
    public const uint ExtendedRequestMagic = 0x21e41c71;
    public const uint SimpleReplyMagic = 0x67446698;
    public const uint StructuredReplyMagic = 0x668e33ef;
    public const uint ExtendedReplyMagic = 0x6e8a278c;

    // Handshake flags (server) and client flags.
    public const ushort FlagFixedNewstyle = 1 << 0;
    public const ushort FlagNoZeroes = 1 << 1;
    public const uint ClientFlagFixedNewstyle = 1 << 0;
    public const uint ClientFlagNoZeroes = 1 << 1;

    // Transmission flags.
    public const ushort FlagHasFlags = 1 << 0;
    public const ushort FlagReadOnly = 1 << 1;
    public const ushort FlagSendFlush = 1 << 2;
    public const ushort FlagSendFua = 1 << 3;
    public const ushort FlagRotational = 1 << 4;
    public const ushort FlagSendTrim = 1 << 5;
    public const ushort FlagSendWriteZeroes = 1 << 6;
    public const ushort FlagSendDf = 1 << 7;
    public const ushort FlagCanMultiConn = 1 << 8;
    public const ushort FlagSendCache = 1 << 10;
    public const ushort FlagSendFastZero = 1 << 11;
    public const ushort FlagBlockStatusPayload = 1 << 12;

    // Options.
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

    // Option replies.
    public const uint RepAck = 1;
    public const uint RepServer = 2;
    public const uint RepInfo = 3;
    public const uint RepMetaContext = 4;
    public const uint RepErrUnsup = 0x80000001;
    public const uint RepErrPolicy = 0x80000002;
    public const uint RepErrInvalid = 0x80000003;
    public const uint RepErrPlatform = 0x80000004;
    public const uint RepErrTlsReqd = 0x80000005;
    public const uint RepErrUnknown = 0x80000006;
    public const uint RepErrShutdown = 0x80000007;
    public const uint RepErrBlockSizeReqd = 0x80000008;
    public const uint RepErrTooBig = 0x80000009;
    public const uint RepErrExtHeaderReqd = 0x8000000a;

    // Info types.
    public const ushort InfoExport = 0;
    public const ushort InfoName = 1;
    public const ushort InfoDescription = 2;
    public const ushort InfoBlockSize = 3;

    // Commands.
    public const ushort CmdRead = 0;
    public const ushort CmdWrite = 1;
    public const ushort CmdDisc = 2;
    public const ushort CmdFlush = 3;
    public const ushort CmdTrim = 4;
    public const ushort CmdCache = 5;
    public const ushort CmdWriteZeroes = 6;
    public const ushort CmdBlockStatus = 7;

    // Command flags.
    public const ushort CmdFlagFua = 1 << 0;
    public const ushort CmdFlagNoHole = 1 << 1;
    public const ushort CmdFlagDf = 1 << 2;
    public const ushort CmdFlagReqOne = 1 << 3;
    public const ushort CmdFlagFastZero = 1 << 4;
    public const ushort CmdFlagPayloadLength = 1 << 5;

    // Reply flags and chunk types.
    public const ushort ReplyFlagDone = 1 << 0;
    public const ushort ReplyTypeNone = 0;
    public const ushort ReplyTypeOffsetData = 1;
    public const ushort ReplyTypeOffsetHole = 2;
    public const ushort ReplyTypeBlockStatus = 5;
    public const ushort ReplyTypeBlockStatusExtended = 6;
    public const ushort ReplyTypeError = 0x8001;

    // Errors.
    public const uint Eperm = 1;
    public const uint Eio = 5;
    public const uint Enomem = 12;
    public const uint Einval = 22;
    public const uint Enospc = 28;
    public const uint Eoverflow = 75;
    public const uint Enotsup = 95;
    public const uint Eshutdown = 108;

    // base:allocation.
    public const uint StateHole = 1;
    public const uint StateZero = 2;
    public const uint BaseAllocationContextId = 1;
    public const string BaseAllocation = "base:allocation";

    /// <summary>Strings (names, descriptions, queries) are at most this long.</summary>
    public const int MaxStringLength = 4096;

    /// <summary>The most option data the server reads; larger options get <c>NBD_REP_ERR_TOO_BIG</c> and a disconnect.</summary>
    public const int MaxOptionLength = 64 * 1024;

    /// <summary>The advertised maximum payload (32 MiB, the size every client assumes).</summary>
    public const int MaxPayload = 32 << 20;

    /// <summary>The largest write payload that is read and thrown away (with an error reply) rather than a disconnect.</summary>
    public const long MaxDiscardedPayload = 2L * MaxPayload;

    /// <summary>The most extents in one block-status reply chunk.</summary>
    public const int MaxExtents = 16384;

    public const int RequestHeaderLength = 28;
    public const int ExtendedRequestHeaderLength = 32;
    public const int SimpleReplyHeaderLength = 16;
    public const int StructuredReplyHeaderLength = 20;
    public const int ExtendedReplyHeaderLength = 32;

    /// <summary>Gets the name of a command, for logs.</summary>
    public static string CommandName(ushort type) => type switch
    {
        CmdRead => "READ",
        CmdWrite => "WRITE",
        CmdDisc => "DISC",
        CmdFlush => "FLUSH",
        CmdTrim => "TRIM",
        CmdCache => "CACHE",
        CmdWriteZeroes => "WRITE_ZEROES",
        CmdBlockStatus => "BLOCK_STATUS",
        _ => "UNKNOWN",
    };
}
