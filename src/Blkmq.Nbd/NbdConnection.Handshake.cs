using System.Buffers;
using System.Buffers.Binary;
using System.Net.Security;
using System.Text;

namespace Blkmq.Nbd;

/// <content>The fixed-newstyle handshake: greeting, client flags and option haggling up to the transmission phase.</content>
internal sealed partial class NbdConnection
{
    private readonly ArrayBufferWriter<byte> _handshakeOut = new(1024);
    private bool _noZeroes;
    private bool _structured;
    private bool _extended;
    private string? _metaContextExport;
    private bool _metaContextSelected;

    /// <summary>Gets whether structured replies were negotiated.</summary>
    public bool StructuredReplies => _structured || _extended;

    /// <summary>Gets whether extended headers were negotiated.</summary>
    public bool ExtendedHeaders => _extended;

    /// <summary>Gets whether base:allocation was selected for the export in use.</summary>
    public bool MetaContextSelected => _metaContextSelected;

    /// <summary>The server's first 18 bytes: fixed newstyle, no zeroes.</summary>
    private static readonly byte[] s_greeting = MakeGreeting();

    private static byte[] MakeGreeting()
    {
        byte[] greeting = new byte[18];
        BinaryPrimitives.WriteUInt64BigEndian(greeting, NbdProtocol.InitPasswd);
        BinaryPrimitives.WriteUInt64BigEndian(greeting.AsSpan(8), NbdProtocol.OptionMagic);
        BinaryPrimitives.WriteUInt16BigEndian(greeting.AsSpan(16), NbdProtocol.FlagFixedNewstyle | NbdProtocol.FlagNoZeroes);
        return greeting;
    }

    /// <summary>Runs the handshake.</summary>
    /// <returns>True to enter transmission with <see cref="Export"/>; false when the client aborted or must be dropped.</returns>
    private bool Handshake()
    {
        // The greeting was sent by Start.
        if (_greetingFailed || !Fill(4))
        {
            NbdLog.ClientGone(_logger, Id, "greeting");
            return false;
        }

        uint clientFlags = ReadUInt32(_readBuffer, _readStart);
        _readStart += 4;
        if ((clientFlags & ~(NbdProtocol.ClientFlagFixedNewstyle | NbdProtocol.ClientFlagNoZeroes)) != 0)
        {
            NbdLog.ProtocolViolation(_logger, Id, $"unknown client flags 0x{clientFlags:x}");
            return false;
        }

        _noZeroes = (clientFlags & NbdProtocol.ClientFlagNoZeroes) != 0;
        int options = 0;
        while (true)
        {
            if (!Fill(16))
            {
                NbdLog.ClientGone(_logger, Id, Buffered == 0 ? "option haggling" : "an option header");
                return false;
            }

            ulong magic = ReadUInt64(_readBuffer, _readStart);
            uint option = ReadUInt32(_readBuffer, _readStart + 8);
            uint length = ReadUInt32(_readBuffer, _readStart + 12);
            _readStart += 16;
            if (magic != NbdProtocol.OptionMagic)
            {
                NbdLog.ProtocolViolation(_logger, Id, $"bad option magic 0x{magic:x16}");
                return false;
            }

            if (length > NbdProtocol.MaxOptionLength)
            {
                NbdLog.OptionTooLong(_logger, Id, option, length, NbdProtocol.MaxOptionLength);
                AppendOptionReply(option, NbdProtocol.RepErrTooBig, "option data too long"u8);
                FlushHandshake();
                return false;
            }

            if (++options > 4096)
            {
                NbdLog.ProtocolViolation(_logger, Id, "more than 4096 options");
                return false;
            }

            byte[] data = length == 0 ? [] : new byte[length];
            if (!ReadExact(data))
            {
                NbdLog.ClientGone(_logger, Id, "option data");
                return false;
            }

            OptionOutcome outcome = HandleOption(option, data);
            FlushHandshake();
            switch (outcome)
            {
                case OptionOutcome.Continue:
                    break;
                case OptionOutcome.Transmit:
                    NbdLog.TransmissionStarted(_logger, Id, Export!.Name, StructuredReplies, _extended, _sslStream is not null);
                    return true;
                case OptionOutcome.StartTls:
                    if (!StartTls())
                    {
                        return false;
                    }

                    break;
                default:
                    return false;
            }
        }
    }

    private enum OptionOutcome
    {
        Continue,
        Transmit,
        StartTls,
        Close,
    }

    private OptionOutcome HandleOption(uint option, byte[] data)
    {
        bool tlsRequired = _server.Options.TlsMode == NbdTlsMode.Require && _sslStream is null;
        if (tlsRequired && option is not (NbdProtocol.OptStartTls or NbdProtocol.OptAbort))
        {
            if (option == NbdProtocol.OptExportName)
            {
                // EXPORT_NAME cannot fail: the spec mandates a disconnect.
                NbdLog.ProtocolViolation(_logger, Id, "NBD_OPT_EXPORT_NAME before STARTTLS while TLS is required");
                return OptionOutcome.Close;
            }

            AppendOptionReply(option, NbdProtocol.RepErrTlsReqd, "TLS is required: send NBD_OPT_STARTTLS first"u8);
            return OptionOutcome.Continue;
        }

        switch (option)
        {
            case NbdProtocol.OptExportName:
                return HandleExportName(data);
            case NbdProtocol.OptAbort:
                AppendOptionReply(option, NbdProtocol.RepAck, default);
                return OptionOutcome.Close;
            case NbdProtocol.OptList:
                return HandleList(data);
            case NbdProtocol.OptStartTls:
                return HandleStartTls(data);
            case NbdProtocol.OptInfo:
            case NbdProtocol.OptGo:
                return HandleInfoOrGo(option, data);
            case NbdProtocol.OptStructuredReply:
                if (data.Length != 0)
                {
                    AppendOptionReply(option, NbdProtocol.RepErrInvalid, "NBD_OPT_STRUCTURED_REPLY takes no data"u8);
                }
                else if (_extended)
                {
                    AppendOptionReply(option, NbdProtocol.RepErrExtHeaderReqd, "extended headers already negotiated"u8);
                }
                else if (_structured)
                {
                    AppendOptionReply(option, NbdProtocol.RepErrInvalid, "structured replies already negotiated"u8);
                }
                else
                {
                    _structured = true;
                    AppendOptionReply(option, NbdProtocol.RepAck, default);
                }

                return OptionOutcome.Continue;
            case NbdProtocol.OptExtendedHeaders:
                if (data.Length != 0)
                {
                    AppendOptionReply(option, NbdProtocol.RepErrInvalid, "NBD_OPT_EXTENDED_HEADERS takes no data"u8);
                }
                else if (_extended)
                {
                    AppendOptionReply(option, NbdProtocol.RepErrInvalid, "extended headers already negotiated"u8);
                }
                else
                {
                    _extended = true;
                    AppendOptionReply(option, NbdProtocol.RepAck, default);
                }

                return OptionOutcome.Continue;
            case NbdProtocol.OptListMetaContext:
            case NbdProtocol.OptSetMetaContext:
                return HandleMetaContext(option, data);
            default:
                AppendOptionReply(option, NbdProtocol.RepErrUnsup, "unknown option"u8);
                return OptionOutcome.Continue;
        }
    }

    private OptionOutcome HandleExportName(byte[] data)
    {
        if (_extended)
        {
            NbdLog.ProtocolViolation(_logger, Id, "NBD_OPT_EXPORT_NAME after extended headers");
            return OptionOutcome.Close;
        }

        string name = Encoding.UTF8.GetString(data);
        NbdExportEntry? export = _server.FindExport(name);
        if (export is null)
        {
            // EXPORT_NAME cannot carry an error: the spec mandates a disconnect.
            NbdLog.UnknownExport(_logger, Id, name);
            return OptionOutcome.Close;
        }

        SelectExport(name, export);
        Span<byte> reply = stackalloc byte[10 + 124];
        reply.Clear();
        BinaryPrimitives.WriteUInt64BigEndian(reply, (ulong)export.Disk.Capacity);
        BinaryPrimitives.WriteUInt16BigEndian(reply[8..], TransmissionFlags);
        _handshakeOut.Write(_noZeroes ? reply[..10] : reply);
        return OptionOutcome.Transmit;
    }

    private OptionOutcome HandleList(byte[] data)
    {
        if (data.Length != 0)
        {
            AppendOptionReply(NbdProtocol.OptList, NbdProtocol.RepErrInvalid, "NBD_OPT_LIST takes no data"u8);
            return OptionOutcome.Continue;
        }

        foreach (NbdExportEntry export in _server.ExportList)
        {
            byte[] reply = new byte[4 + export.NameBytes.Length + export.DescriptionBytes.Length];
            BinaryPrimitives.WriteUInt32BigEndian(reply, (uint)export.NameBytes.Length);
            export.NameBytes.CopyTo(reply, 4);
            export.DescriptionBytes.CopyTo(reply, 4 + export.NameBytes.Length);
            AppendOptionReply(NbdProtocol.OptList, NbdProtocol.RepServer, reply);
        }

        AppendOptionReply(NbdProtocol.OptList, NbdProtocol.RepAck, default);
        return OptionOutcome.Continue;
    }

    private OptionOutcome HandleStartTls(byte[] data)
    {
        if (_server.Options.TlsMode == NbdTlsMode.Off)
        {
            AppendOptionReply(NbdProtocol.OptStartTls, NbdProtocol.RepErrPolicy, "TLS is not enabled on this server"u8);
            return OptionOutcome.Continue;
        }

        if (data.Length != 0)
        {
            AppendOptionReply(NbdProtocol.OptStartTls, NbdProtocol.RepErrInvalid, "NBD_OPT_STARTTLS takes no data"u8);
            return OptionOutcome.Continue;
        }

        if (_sslStream is not null)
        {
            AppendOptionReply(NbdProtocol.OptStartTls, NbdProtocol.RepErrInvalid, "TLS is already active"u8);
            return OptionOutcome.Continue;
        }

        AppendOptionReply(NbdProtocol.OptStartTls, NbdProtocol.RepAck, default);
        return OptionOutcome.StartTls;
    }

    private bool StartTls()
    {
        if (Buffered != 0)
        {
            NbdLog.ProtocolViolation(_logger, Id, "data sent after NBD_OPT_STARTTLS before the TLS handshake");
            return false;
        }

        var ssl = new SslStream(_networkStream, leaveInnerStreamOpen: true);
        _sslStream = ssl;
        ssl.AuthenticateAsServer(
            new SslServerAuthenticationOptions
            {
                ServerCertificateContext = _server.CertificateContext,
                ClientCertificateRequired = false,
                CertificateRevocationCheckMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck,
            });
        _stream = ssl;

        // STARTTLS forgets every earlier negotiation (the spec: no state survives the upgrade).
        _structured = false;
        _extended = false;
        _metaContextExport = null;
        _metaContextSelected = false;
        NbdLog.TlsEstablished(_logger, Id, ssl.SslProtocol);
        return true;
    }

    private OptionOutcome HandleInfoOrGo(uint option, byte[] data)
    {
        if (data.Length < 6)
        {
            AppendOptionReply(option, NbdProtocol.RepErrInvalid, "option data too short"u8);
            return OptionOutcome.Continue;
        }

        uint nameLength = ReadUInt32(data, 0);
        if (nameLength > (uint)data.Length - 6)
        {
            AppendOptionReply(option, NbdProtocol.RepErrInvalid, "name length exceeds option data"u8);
            return OptionOutcome.Continue;
        }

        int infoCount = ReadUInt16(data, 4 + (int)nameLength);
        if (data.Length != 6 + (int)nameLength + (2 * infoCount))
        {
            AppendOptionReply(option, NbdProtocol.RepErrInvalid, "information request count does not match option length"u8);
            return OptionOutcome.Continue;
        }

        string name = Encoding.UTF8.GetString(data, 4, (int)nameLength);
        NbdExportEntry? export = _server.FindExport(name);
        if (export is null)
        {
            NbdLog.UnknownExport(_logger, Id, name);
            AppendOptionReply(option, NbdProtocol.RepErrUnknown, Encoding.UTF8.GetBytes($"export '{Truncate(name)}' not found"));
            return OptionOutcome.Continue;
        }

        bool wantName = false;
        bool wantDescription = false;
        for (int i = 0; i < infoCount; i++)
        {
            ushort info = ReadUInt16(data, 6 + (int)nameLength + (2 * i));
            wantName |= info == NbdProtocol.InfoName;
            wantDescription |= info == NbdProtocol.InfoDescription;
        }

        bool metaContext = _metaContextSelected && string.Equals(_metaContextExport, name, StringComparison.Ordinal);
        ushort flags = export.TransmissionFlags(StructuredReplies, _extended, metaContext);

        Span<byte> info12 = stackalloc byte[12];
        BinaryPrimitives.WriteUInt16BigEndian(info12, NbdProtocol.InfoExport);
        BinaryPrimitives.WriteUInt64BigEndian(info12[2..], (ulong)export.Disk.Capacity);
        BinaryPrimitives.WriteUInt16BigEndian(info12[10..], flags);
        AppendOptionReply(option, NbdProtocol.RepInfo, info12);

        if (wantName)
        {
            AppendInfoString(option, NbdProtocol.InfoName, export.NameBytes);
        }

        if (wantDescription && export.DescriptionBytes.Length != 0)
        {
            AppendInfoString(option, NbdProtocol.InfoDescription, export.DescriptionBytes);
        }

        // Always sent: the minimum block size is enforced (unaligned requests get EINVAL), so clients must know it.
        Span<byte> info14 = stackalloc byte[14];
        QueueLimits limits = export.Disk.Limits;
        BinaryPrimitives.WriteUInt16BigEndian(info14, NbdProtocol.InfoBlockSize);
        BinaryPrimitives.WriteUInt32BigEndian(info14[2..], (uint)limits.LogicalBlockSize);
        BinaryPrimitives.WriteUInt32BigEndian(info14[6..], (uint)Math.Max(limits.EffectivePhysicalBlockSize, 512));
        BinaryPrimitives.WriteUInt32BigEndian(info14[10..], NbdProtocol.MaxPayload);
        AppendOptionReply(option, NbdProtocol.RepInfo, info14);
        AppendOptionReply(option, NbdProtocol.RepAck, default);

        if (option != NbdProtocol.OptGo)
        {
            return OptionOutcome.Continue;
        }

        SelectExport(name, export);
        return OptionOutcome.Transmit;
    }

    private OptionOutcome HandleMetaContext(uint option, byte[] data)
    {
        bool set = option == NbdProtocol.OptSetMetaContext;
        if (set)
        {
            // SET replaces the selection even when it fails.
            _metaContextSelected = false;
            _metaContextExport = null;
        }

        if (!StructuredReplies)
        {
            AppendOptionReply(option, NbdProtocol.RepErrInvalid, "negotiate structured replies first"u8);
            return OptionOutcome.Continue;
        }

        if (!TryParseMetaContextRequest(data, out string? name, out List<string>? queries))
        {
            AppendOptionReply(option, NbdProtocol.RepErrInvalid, "malformed meta context request"u8);
            return OptionOutcome.Continue;
        }

        if (_server.FindExport(name) is null)
        {
            NbdLog.UnknownExport(_logger, Id, name);
            AppendOptionReply(option, NbdProtocol.RepErrUnknown, Encoding.UTF8.GetBytes($"export '{Truncate(name)}' not found"));
            return OptionOutcome.Continue;
        }

        bool match = set
            ? queries.Contains(NbdProtocol.BaseAllocation)
            : queries.Count == 0 || queries.Exists(static q => q is "base:" or NbdProtocol.BaseAllocation);
        if (match)
        {
            byte[] reply = new byte[4 + NbdProtocol.BaseAllocation.Length];
            BinaryPrimitives.WriteUInt32BigEndian(reply, set ? NbdProtocol.BaseAllocationContextId : 0);
            Encoding.ASCII.GetBytes(NbdProtocol.BaseAllocation, reply.AsSpan(4));
            AppendOptionReply(option, NbdProtocol.RepMetaContext, reply);
        }

        if (set)
        {
            _metaContextSelected = match;
            _metaContextExport = name;
        }

        AppendOptionReply(option, NbdProtocol.RepAck, default);
        return OptionOutcome.Continue;
    }

    private static bool TryParseMetaContextRequest(byte[] data, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out string? name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out List<string>? queries)
    {
        name = null;
        queries = null;
        if (data.Length < 8)
        {
            return false;
        }

        uint nameLength = ReadUInt32(data, 0);
        if (nameLength > NbdProtocol.MaxStringLength || nameLength > (uint)data.Length - 8)
        {
            return false;
        }

        int position = 4 + (int)nameLength;
        uint count = ReadUInt32(data, position);
        position += 4;
        if (count > (uint)(data.Length - position) / 4)
        {
            return false;
        }

        var list = new List<string>((int)count);
        for (uint i = 0; i < count; i++)
        {
            if (data.Length - position < 4)
            {
                return false;
            }

            uint length = ReadUInt32(data, position);
            position += 4;
            if (length > NbdProtocol.MaxStringLength || length > (uint)(data.Length - position))
            {
                return false;
            }

            list.Add(Encoding.UTF8.GetString(data, position, (int)length));
            position += (int)length;
        }

        if (position != data.Length)
        {
            return false;
        }

        name = Encoding.UTF8.GetString(data, 4, (int)nameLength);
        queries = list;
        return true;
    }

    private void SelectExport(string requestedName, NbdExportEntry export)
    {
        Export = export;
        if (!string.Equals(_metaContextExport, requestedName, StringComparison.Ordinal))
        {
            _metaContextSelected = false;
        }

        TransmissionFlags = export.TransmissionFlags(StructuredReplies, _extended, _metaContextSelected);
    }

    /// <summary>Gets the transmission flags sent for the chosen export.</summary>
    public ushort TransmissionFlags { get; private set; }

    private void AppendInfoString(uint option, ushort info, byte[] text)
    {
        byte[] reply = new byte[2 + text.Length];
        BinaryPrimitives.WriteUInt16BigEndian(reply, info);
        text.CopyTo(reply, 2);
        AppendOptionReply(option, NbdProtocol.RepInfo, reply);
    }

    private void AppendOptionReply(uint option, uint type, ReadOnlySpan<byte> data)
    {
        Span<byte> header = _handshakeOut.GetSpan(20 + data.Length);
        BinaryPrimitives.WriteUInt64BigEndian(header, NbdProtocol.OptionReplyMagic);
        BinaryPrimitives.WriteUInt32BigEndian(header[8..], option);
        BinaryPrimitives.WriteUInt32BigEndian(header[12..], type);
        BinaryPrimitives.WriteUInt32BigEndian(header[16..], (uint)data.Length);
        data.CopyTo(header[20..]);
        _handshakeOut.Advance(20 + data.Length);
    }

    private void FlushHandshake()
    {
        if (_handshakeOut.WrittenCount == 0)
        {
            return;
        }

        _stream.Write(_handshakeOut.WrittenSpan);
        _stream.Flush();
        _handshakeOut.ResetWrittenCount();
    }

    private static string Truncate(string name) => name.Length <= 256 ? name : name[..256] + "...";
}
