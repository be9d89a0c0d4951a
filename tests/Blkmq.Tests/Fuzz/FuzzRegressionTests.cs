using System.Buffers.Binary;
using Blkmq.Fuse.Interop;
using Blkmq.Fuzz;

namespace Blkmq.Tests.Fuzz;

/// <summary>What fuzzing found, each pinned by a test that failed before its fix (docs/fuzzing.md lists them).</summary>
[Collection(FuzzHarnessCollection.Name)]
public sealed class FuzzRegressionTests
{
    private const uint RequestMagic = 0x25609513;

    /// <summary>
    /// A request answered inline and then the end of the connection (<c>NBD_CMD_DISC</c>, a bad magic) in the same
    /// receive: the reader queued the reply without waking the writer (it sends inline replies itself before it next
    /// waits for input) and then stopped reading and waited for the request to be released, which only the writer's
    /// send does: the connection hung. Many rounds, because the writer thread must already be parked to hang.
    /// </summary>
    [Theory]
    [InlineData(0, "disc")]
    [InlineData(0, "bad magic")]
    [InlineData(NbdTransmissionTarget.Structured, "disc")]
    [InlineData(NbdTransmissionTarget.Extended | NbdTransmissionTarget.BaseAllocation, "disc")]
    [InlineData(1 << NbdTransmissionTarget.ExportShift, "disc")]
    public void Nbd_RequestAndConnectionEndInOnePacket_ReplySentAndConnectionEnds(byte selector, string end)
    {
        bool extended = (selector & NbdTransmissionTarget.Extended) != 0;
        byte[] read = Request(extended, type: 0, cookie: 1, offset: 4096, length: 4096);
        byte[] last = end == "disc" ? Request(extended, type: 2, cookie: 2, offset: 0, length: 0) : new byte[extended ? 32 : 28];
        byte[] handshake = NbdTransmissionTarget.Handshake(selector);
        NbdFuzzServer server = NbdFuzzServer.Shared;

        // The same reply bytes as when the client just closes after the read: the reply went out, then the end.
        long expected = server.Exchange(handshake, read);
        for (int round = 0; round < 20; round++)
        {
            Assert.Equal(expected, server.Exchange(handshake, [.. read, .. last]));
        }
    }

    /// <summary>
    /// A request shorter than its opcode's fixed argument struct (which the kernel never sends, but a request is
    /// outside input all the same): the operation read past the request and threw, and the kernel got EIO from the
    /// catch-all. It is answered EINVAL now, without throwing.
    /// </summary>
    [Theory]
    [InlineData((uint)FuseOpcode.Init, 16)]
    [InlineData((uint)FuseOpcode.SetAttr, 88)]
    [InlineData((uint)FuseOpcode.Open, 8)]
    [InlineData((uint)FuseOpcode.Read, 40)]
    [InlineData((uint)FuseOpcode.Write, 40)]
    [InlineData((uint)FuseOpcode.Fallocate, 32)]
    [InlineData((uint)FuseOpcode.ReadDir, 40)]
    public void Fuse_RequestShorterThanItsFixedArguments_AnsweredEinval(uint opcodeNumber, int argumentLength)
    {
        var opcode = (FuseOpcode)opcodeNumber;
        using var target = new FuseRequestTarget();
        ulong node = opcode is FuseOpcode.ReadDir or FuseOpcode.Init ? 1UL : 2UL;
        foreach (int length in (int[])[0, argumentLength / 2, argumentLength - 1])
        {
            byte[] request = FuseRequest(opcode, node, length);
            Assert.Equal(-Libc.EINVAL, target.Serve(request, request.Length));
        }

        // The full length is served as before (a read of the file, an open, ...): not refused.
        byte[] whole = FuseRequest(opcode, node, argumentLength);
        if (opcode == FuseOpcode.Init)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(whole.AsSpan(FuseProtocol.InHeaderLength), FuseProtocol.KernelVersion);
            BinaryPrimitives.WriteUInt32LittleEndian(whole.AsSpan(FuseProtocol.InHeaderLength + 4), FuseProtocol.KernelMinorVersion);
        }

        Assert.NotEqual(-Libc.EINVAL, target.Serve(whole, whole.Length));
    }

    private static byte[] Request(bool extended, ushort type, ulong cookie, ulong offset, ulong length)
    {
        byte[] bytes = new byte[extended ? 32 : 28];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, extended ? 0x21e41c71 : RequestMagic);
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(6), type);
        BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(8), cookie);
        BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(16), offset);
        if (extended)
        {
            BinaryPrimitives.WriteUInt64BigEndian(bytes.AsSpan(24), length);
        }
        else
        {
            BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(24), (uint)length);
        }

        return bytes;
    }

    private static byte[] FuseRequest(FuseOpcode opcode, ulong node, int argumentLength)
    {
        byte[] bytes = new byte[FuseProtocol.InHeaderLength + argumentLength];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, (uint)bytes.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(4), (uint)opcode);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(8), 42);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(16), node);
        return bytes;
    }
}
