using System.Buffers.Binary;
using Blkmq.Drivers.Null;
using Blkmq.Fuse;
using Blkmq.Fuse.Interop;
using Blkmq.Metrics;

namespace Blkmq.Fuzz;

/// <summary>
/// <c>fuse-request</c>: the input is what the kernel's reads of <c>/dev/fuse</c> return, one request after another,
/// each as long as its header's <c>len</c> says (at least the 40-byte header, at most what is left). Each goes
/// through the FUSE session's request decoder and operations, as a worker serves it, against a writable and a
/// read-only file; the reply must be well formed and the operations must not throw.
/// </summary>
internal sealed class FuseRequestTarget : IFuzzTarget, IDisposable
{
    public const string TargetName = "fuse-request";

    private const int MaxRequestsPerInput = 64;

    private readonly ErrorLogger _logger = new(9); // FuseLog.HandlerThrew: an operation threw instead of answering.
    private readonly NullBlock[] _instances;
    private readonly FrontendCounters _counters = new("fuse");
    private readonly FuseCall _call = new();
    private readonly FuseSession _session;
    private readonly byte[] _request = new byte[FuseSession.MaxTransfer + 4096];
    private readonly byte[] _reply = new byte[FuseProtocol.OutHeaderLength + FuseSession.MaxTransfer];

    public FuseRequestTarget()
    {
        _instances =
        [
            NullBlock.Create("memory_backed=1,discard=1,size=1M,bs=512,irqmode=0,hw_queue_depth=16"),
            NullBlock.Create("memory_backed=1,size=1M,bs=4096,irqmode=1,hw_queue_depth=16"),
        ];
        FuseFile[] files =
        [
            new() { Name = "disk", Disk = _instances[0].Disk },
            new() { Name = "ro", Disk = _instances[1].Disk, ReadOnly = true },
        ];

        // No device: the harness hands requests to the session and reads its replies itself.
        _session = new FuseSession(-1, files, directIO: false, _logger, _counters);
    }

    public string Name => TargetName;

    public void Dispose()
    {
        _counters.Dispose();
        foreach (NullBlock instance in _instances)
        {
            instance.Dispose();
        }
    }

    public void Run(ReadOnlySpan<byte> input)
    {
        for (int served = 0; input.Length >= FuseProtocol.InHeaderLength && served < MaxRequestsPerInput; served++)
        {
            uint declared = BinaryPrimitives.ReadUInt32LittleEndian(input);
            int length = (int)Math.Clamp(declared, (uint)FuseProtocol.InHeaderLength, (uint)Math.Min(input.Length, _request.Length));
            input[..length].CopyTo(_request);
            input = input[length..];
            Serve(length);
        }
    }

    /// <summary>Serves the request in the request buffer and checks its reply.</summary>
    /// <param name="length">The request's length, as a read of the device would return it.</param>
    /// <returns>The reply's error (0 or a negative errno); null when the request takes no reply.</returns>
    public int? Serve(byte[] request, int length)
    {
        request.AsSpan(0, length).CopyTo(_request);
        return Serve(length);
    }

    private int? Serve(int length)
    {
        var opcode = (FuseOpcode)BinaryPrimitives.ReadUInt32LittleEndian(_request.AsSpan(4));
        ulong unique = BinaryPrimitives.ReadUInt64LittleEndian(_request.AsSpan(8));
        int replyLength = _session.Serve(_call, _request, length, _reply);
        _logger.ThrowIfLogged();
        if (replyLength == 0)
        {
            if (opcode is not (FuseOpcode.Forget or FuseOpcode.BatchForget or FuseOpcode.Interrupt))
            {
                throw new FuzzFindingException($"{opcode} got no reply");
            }

            return null;
        }

        uint headerLength = BinaryPrimitives.ReadUInt32LittleEndian(_reply);
        int error = BinaryPrimitives.ReadInt32LittleEndian(_reply.AsSpan(4));
        ulong replyUnique = BinaryPrimitives.ReadUInt64LittleEndian(_reply.AsSpan(8));
        if (headerLength != replyLength || replyUnique != unique || replyLength < FuseProtocol.OutHeaderLength || replyLength > _reply.Length)
        {
            throw new FuzzFindingException($"{opcode}: malformed reply header (len {headerLength}, returned {replyLength}, unique {replyUnique} for {unique})");
        }

        if (error > 0 || error < -4095 || (error != 0 && replyLength != FuseProtocol.OutHeaderLength))
        {
            throw new FuzzFindingException($"{opcode}: bad reply error {error} with length {replyLength}");
        }

        return error;
    }
}
