using System.Buffers.Binary;
using System.Text;
using Blkmq.Nbd;

namespace Blkmq.Fuzz;

/// <summary>
/// <c>nbd-transmission</c>: the input's first byte picks a negotiation (structured replies, extended headers,
/// base:allocation, which export), the harness sends that handshake itself, then the rest of the input as the
/// transmission phase: the requests, payloads and <c>NBD_CMD_DISC</c> a client sends after <c>NBD_OPT_GO</c>.
/// </summary>
internal sealed class NbdTransmissionTarget : IFuzzTarget
{
    public const string TargetName = "nbd-transmission";

    /// <summary>Selector bit: negotiate structured replies.</summary>
    public const byte Structured = 1 << 0;

    /// <summary>Selector bit: negotiate extended headers (which imply structured replies).</summary>
    public const byte Extended = 1 << 1;

    /// <summary>Selector bit: select the base:allocation meta context.</summary>
    public const byte BaseAllocation = 1 << 2;

    /// <summary>Selector bits 3 and 4: the export, an index into <see cref="NbdFuzzServer.ExportNames"/> (3 counts as 0).</summary>
    public const int ExportShift = 3;

    public string Name => TargetName;

    public void Run(ReadOnlySpan<byte> input)
    {
        if (input.IsEmpty)
        {
            return;
        }

        NbdFuzzServer.Shared.Exchange(Handshake(input[0]), input[1..]);
    }

    /// <summary>Makes the client's side of a handshake ending with <c>NBD_OPT_GO</c>, as the selector byte says.</summary>
    /// <param name="selector">The bits above.</param>
    /// <returns>The client flags and options, in wire order.</returns>
    public static byte[] Handshake(byte selector)
    {
        int exportIndex = (selector >> ExportShift) & 3;
        byte[] export = Encoding.UTF8.GetBytes(NbdFuzzServer.ExportNames[exportIndex % NbdFuzzServer.ExportNames.Length]);
        var bytes = new List<byte>(128);
        AppendUInt32(bytes, NbdProtocol.ClientFlagFixedNewstyle | NbdProtocol.ClientFlagNoZeroes);
        if ((selector & Extended) != 0)
        {
            AppendOption(bytes, NbdProtocol.OptExtendedHeaders, []);
        }
        else if ((selector & Structured) != 0)
        {
            AppendOption(bytes, NbdProtocol.OptStructuredReply, []);
        }

        if ((selector & BaseAllocation) != 0)
        {
            byte[] query = "base:allocation"u8.ToArray();
            var data = new List<byte>();
            AppendUInt32(data, (uint)export.Length);
            data.AddRange(export);
            AppendUInt32(data, 1);
            AppendUInt32(data, (uint)query.Length);
            data.AddRange(query);
            AppendOption(bytes, NbdProtocol.OptSetMetaContext, [.. data]);
        }

        var go = new List<byte>();
        AppendUInt32(go, (uint)export.Length);
        go.AddRange(export);
        go.Add(0);
        go.Add(0); // no information requests
        AppendOption(bytes, NbdProtocol.OptGo, [.. go]);
        return [.. bytes];
    }

    private static void AppendOption(List<byte> bytes, uint option, byte[] data)
    {
        AppendUInt64(bytes, NbdProtocol.OptionMagic);
        AppendUInt32(bytes, option);
        AppendUInt32(bytes, (uint)data.Length);
        bytes.AddRange(data);
    }

    private static void AppendUInt32(List<byte> bytes, uint value)
    {
        Span<byte> span = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(span, value);
        bytes.AddRange(span);
    }

    private static void AppendUInt64(List<byte> bytes, ulong value)
    {
        Span<byte> span = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(span, value);
        bytes.AddRange(span);
    }
}
