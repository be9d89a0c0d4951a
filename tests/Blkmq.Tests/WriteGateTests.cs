using Blkmq.Tests.Infrastructure;

namespace Blkmq.Tests;

/// <summary>
/// The write gate: a whole-block write holds no recorded range (its request is its shared hold), so a
/// read-modify-write of a partial block raises the gate, waits for the writes already past it, and meanwhile new
/// writes are recorded with their ranges and wait only if they overlap a held exclusive range.
/// </summary>
public sealed class WriteGateTests
{
    [Fact]
    public async Task PartialWrite_WaitsForWholeBlockWritesInFlight_WhileDisjointWritesGoOn()
    {
        await using TestRig rig = TestRig.Create(depth: 8);
        BlockDevice device = rig.Device;
        byte[] block = new byte[512];

        // An unrecorded write of block 0, held by the driver.
        ValueTask first = device.WriteAsync(0, block);
        Request<TestRequest> firstRequest = await rig.Data.NextAsync();
        Assert.Equal(RequestOp.Write, firstRequest.Op);

        // The partial write of block 0 raises the gate and waits: its read must not reach the driver yet.
        ValueTask partial = device.WriteBytesAsync(100, new byte[10], TestContext.Current.CancellationToken);
        Assert.False(partial.IsCompleted);
        Assert.True(rig.Disk.StreamLock.IsExclusiveWanted);

        // A disjoint write is turned back at the gate, recorded, and goes on: it is the next request the driver sees.
        ValueTask disjoint = device.WriteAsync(4096, block);
        Request<TestRequest> disjointRequest = await rig.Data.NextAsync();
        Assert.Equal((RequestOp.Write, 8L), (disjointRequest.Op, disjointRequest.Sector));
        disjointRequest.End(BlockStatus.Ok);
        await disjoint;

        // An overlapping write recorded before the exclusive hold is taken holds block 0 too: the partial write waits for it.
        ValueTask overlapping = device.WriteAsync(0, block);
        Request<TestRequest> overlappingRequest = await rig.Data.NextAsync();
        Assert.Equal((RequestOp.Write, 0L), (overlappingRequest.Op, overlappingRequest.Sector));

        firstRequest.End(BlockStatus.Ok);
        await first;
        Assert.False(rig.Data.TryNext(out _));
        overlappingRequest.End(BlockStatus.Ok);
        await overlapping;

        // Now, and only now, the read-modify-write runs: its read, then its write back.
        Request<TestRequest> read = await rig.Data.NextAsync();
        Assert.Equal((RequestOp.Read, 0L), (read.Op, read.Sector));
        read.End(BlockStatus.Ok);
        Request<TestRequest> writeBack = await rig.Data.NextAsync();
        Assert.Equal((RequestOp.Write, 0L), (writeBack.Op, writeBack.Sector));
        writeBack.End(BlockStatus.Ok);
        await partial;

        Assert.False(rig.Disk.StreamLock.IsExclusiveWanted);
        rig.AssertIdle();
    }

    [Fact]
    public async Task WholeBlockWrite_WhileAPartialWriteHoldsItsBlock_WaitsAndThenLands()
    {
        await using TestRig rig = TestRig.Create(depth: 8);
        BlockDevice device = rig.Device;

        ValueTask partial = device.WriteBytesAsync(100, new byte[10], TestContext.Current.CancellationToken);
        Request<TestRequest> read = await rig.Data.NextAsync();
        Assert.Equal(RequestOp.Read, read.Op);

        // Block 0 is held exclusive: an aligned write of it is recorded and waits; one of block 8 does not.
        ValueTask blocked = device.WriteAsync(0, new byte[512]);
        ValueTask free = device.WriteAsync(4096, new byte[512]);
        Request<TestRequest> freeRequest = await rig.Data.NextAsync();
        Assert.Equal((RequestOp.Write, 8L), (freeRequest.Op, freeRequest.Sector));
        freeRequest.End(BlockStatus.Ok);
        await free;

        read.End(BlockStatus.Ok);
        Request<TestRequest> writeBack = await rig.Data.NextAsync();
        Assert.Equal((RequestOp.Write, 0L), (writeBack.Op, writeBack.Sector));
        Assert.False(blocked.IsCompleted);
        writeBack.End(BlockStatus.Ok);
        await partial;

        Request<TestRequest> blockedRequest = await rig.Data.NextAsync();
        Assert.Equal((RequestOp.Write, 0L), (blockedRequest.Op, blockedRequest.Sector));
        blockedRequest.End(BlockStatus.Ok);
        await blocked;
        rig.AssertIdle();
    }
}
