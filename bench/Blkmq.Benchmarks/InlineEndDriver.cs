namespace Blkmq.Benchmarks;

/// <summary>The least a driver can do: end every request inside <c>QueueRq</c>. No optional members, no data.</summary>
public readonly struct InlineEndDriver : IBlockDriver<byte, byte, byte>
{
    public BlockStatus QueueRq(ref byte hwQueue, byte disk, Request<byte> request, bool isLast)
    {
        request.End(BlockStatus.Ok);
        return BlockStatus.Ok;
    }

    public byte InitHctx(byte disk, int hwQueueIndex) => 0;

    public byte InitRequest(int hwQueueIndex, int tag) => 0;
}
