using Blkmq.Drivers.Null;
using Blkmq.Tests.Infrastructure;

namespace Blkmq.Tests;

public sealed class CoreBehaviourTests
{
    [Fact]
    public async Task LargeIo_IsSplitByMaxSectors_AndDataIsIntact()
    {
        await using NullBlock nullb = NullBlock.Create(new NullBlockOptions { IrqMode = IrqMode.SoftIrq, MemoryBacked = true, Size = 4 << 20, MaxSectors = 8, HwQueueDepth = 4 });
        BlockDevice device = nullb.Disk.OpenDevice();
        byte[] data = new byte[1 << 20];
        Random.Shared.NextBytes(data);

        await device.WriteAsync(4096, data);
        byte[] back = new byte[data.Length];
        await device.ReadAsync(4096, back);

        Assert.Equal(data, back);
        DiskStats stats = nullb.Disk.GetStatistics();
        Assert.Equal((1 << 20) / 4096, stats.WriteIos);
        Assert.Equal(0, nullb.TagSets[0].TagsInUse);
    }

    [Fact]
    public async Task TagsExhausted_SubmittersWaitAndAreServedInOrder()
    {
        await using TestRig rig = TestRig.Create(depth: 1);
        ValueTask first = rig.Device.ReadAsync(0, new byte[512]);
        Request<TestRequest> held = await rig.Data.NextAsync();
        ValueTask second = rig.Device.ReadAsync(512, new byte[512]);
        ValueTask third = rig.Device.ReadAsync(1024, new byte[512]);
        Assert.False(second.IsCompleted);

        held.End(BlockStatus.Ok);
        await first;
        Request<TestRequest> next = await rig.Data.NextAsync();
        Assert.Equal(1, next.Sector);
        next.End(BlockStatus.Ok);
        Request<TestRequest> last = await rig.Data.NextAsync();
        Assert.Equal(2, last.Sector);
        last.End(BlockStatus.Ok);
        await second;
        await third;
        rig.AssertIdle();
    }

    [Fact]
    public async Task PolledIo_CompletesOnlyWhenPolled()
    {
        await using NullBlock nullb = NullBlock.Create(new NullBlockOptions { IrqMode = IrqMode.None, PollQueues = 1, Size = 1 << 20 });
        BlockDevice device = nullb.Disk.OpenDevice();
        ValueTask read = device.ReadAsync(0, new byte[512], RequestFlags.Polled);
        await Task.Delay(20);
        Assert.False(read.IsCompleted);

        Assert.Equal(1, device.Poll());
        await read;
        Assert.Equal(0, device.Poll());
    }

    [Fact]
    public async Task Statistics_CountLikeSysBlockStat()
    {
        await using NullBlock nullb = NullBlock.Create(new NullBlockOptions { IrqMode = IrqMode.None, Size = 1 << 20, MemoryBacked = true, Discard = true });
        BlockDevice device = nullb.Disk.OpenDevice();
        await device.WriteAsync(0, new byte[4096]);
        await device.ReadAsync(0, new byte[1024]);
        await device.ReadAsync(0, new byte[512]);
        await device.DiscardAsync(0, 8192);
        await device.WriteZeroesAsync(8192, 4096);

        DiskStats stats = nullb.Disk.GetStatistics();
        Assert.Equal(2, stats.ReadIos);
        Assert.Equal(3, stats.ReadSectors);
        Assert.Equal(2, stats.WriteIos);
        Assert.Equal(16, stats.WriteSectors);
        Assert.Equal(1, stats.DiscardIos);
        Assert.Equal(16, stats.DiscardSectors);
        Assert.Equal(0, stats.InFlight);
        string[] fields = stats.ToSysfsString().Split(' ');
        Assert.Equal(17, fields.Length);
        Assert.Equal("2", fields[0]);
    }

    [Fact]
    public async Task MemoryBacked_DiscardAndWriteZeroes_ReadBackZeroes()
    {
        await using NullBlock nullb = NullBlock.Create(new NullBlockOptions { IrqMode = IrqMode.None, Size = 1 << 20, MemoryBacked = true, Discard = true });
        BlockDevice device = nullb.Disk.OpenDevice();
        byte[] ones = Enumerable.Repeat((byte)0xff, 65536).ToArray();
        await device.WriteAsync(0, ones);
        Assert.Equal(65536, nullb.Devices[0].AllocatedBytes);

        await device.DiscardAsync(0, 16384);
        await device.WriteZeroesAsync(16384, 512, mayUnmap: false);
        await device.WriteZeroesAsync(20480, 8192, mayUnmap: true);

        byte[] back = new byte[65536];
        await device.ReadAsync(0, back);
        Assert.All(back[..16896], b => Assert.Equal(0, b));
        Assert.All(back[16896..20480], b => Assert.Equal(0xff, b));
        Assert.All(back[20480..28672], b => Assert.Equal(0, b));
        Assert.All(back[28672..], b => Assert.Equal(0xff, b));
        Assert.Equal(65536 - 16384 - 8192, nullb.Devices[0].AllocatedBytes);
        AllocationExtent extent = await nullb.Disk.Allocation!.GetExtentAsync(0, 65536);
        Assert.False(extent.Allocated);
        long hole = extent.Length;
        Assert.Equal(16384, hole);
    }

    [Fact]
    public async Task WriteZeroesWithoutDriverSupport_WritesZeroBuffers()
    {
        var written = new List<(long Sector, int Length)>();
        await using TestRig rig = TestRig.Create(
            configure: d => d.OnQueueRq = (rq, _) =>
            {
                lock (written)
                {
                    written.Add((rq.Sector, rq.Length));
                    Assert.Equal(RequestOp.Write, rq.Op);
                    Assert.All(rq.Segments.ToArray(), s => Assert.True(s.Span.IndexOfAnyExcept((byte)0) < 0));
                }

                rq.End(BlockStatus.Ok);
                return BlockStatus.Ok;
            },
            disk: o => o with { Limits = new QueueLimits() });

        await rig.Device.WriteZeroesAsync(4096, 8192);

        Assert.Equal([(8L, 8192)], written);
    }

    [Fact]
    public async Task FuaWithoutDriverFua_BecomesWriteThenFlush()
    {
        var ops = new List<(RequestOp Op, RequestFlags Flags)>();
        await using TestRig rig = TestRig.Create(
            configure: d => d.OnQueueRq = (rq, _) =>
            {
                lock (ops)
                {
                    ops.Add((rq.Op, rq.Flags));
                }

                rq.End(BlockStatus.Ok);
                return BlockStatus.Ok;
            },
            disk: o => o with { Fua = false });

        await rig.Device.WriteAsync(0, new byte[512], RequestFlags.Fua);

        Assert.Equal([(RequestOp.Write, RequestFlags.None), (RequestOp.Flush, RequestFlags.None)], ops);
    }

    [Fact]
    public async Task SharedTagSet_LimitsTotalInFlightAcrossDisks()
    {
        await using var tagSet = new TagSet<TestDriver, TestRequest, TestHw, TestDisk>(default, new TagSetOptions { QueueDepth = 2 });
        var a = new TestDisk();
        var b = new TestDisk();
        BlockDevice deviceA = tagSet.AddDisk(a, new DiskOptions { Name = "a", Capacity = 4096 }).OpenDevice();
        BlockDevice deviceB = tagSet.AddDisk(b, new DiskOptions { Name = "b", Capacity = 4096 }).OpenDevice();

        ValueTask r1 = deviceA.ReadAsync(0, new byte[512]);
        ValueTask r2 = deviceB.ReadAsync(0, new byte[512]);
        ValueTask r3 = deviceB.ReadAsync(512, new byte[512]);
        Request<TestRequest> h1 = await a.NextAsync();
        Request<TestRequest> h2 = await b.NextAsync();
        await Task.Delay(20);
        Assert.False(b.TryNext(out _));
        Assert.Equal(2, tagSet.TagsInUse);

        // The tag returns when the submitter has read the result.
        h1.End(BlockStatus.Ok);
        await r1;
        Request<TestRequest> h3 = await b.NextAsync();
        h2.End(BlockStatus.Ok);
        h3.End(BlockStatus.Ok);
        await r2;
        await r3;
        Assert.Equal(0, tagSet.TagsInUse);
    }

    [Fact]
    public void SteadyState_InlineCompletion_AllocatesNothing()
    {
        using NullBlock nullb = NullBlock.Create(new NullBlockOptions { IrqMode = IrqMode.None, Size = 1 << 20 });
        BlockDevice device = nullb.Disk.OpenDevice();
        byte[] buffer = new byte[4096];
        for (int i = 0; i < 1000; i++)
        {
            Consume(device.ReadAsync(i % 16 * 4096L, buffer));
        }

        AllocationRounds.AssertAllocatesNothing(
            () =>
            {
                for (int i = 0; i < 10_000; i++)
                {
                    Consume(device.ReadAsync(i % 16 * 4096L, buffer));
                }
            },
            iosPerRound: 10_000);
    }

    [Fact]
    public async Task CompleteInsideQueueRq_FinishesOnTheSubmittingThreadAfterQueueRqReturns()
    {
        bool insideQueueRq = false;
        bool completeRanInside = true;
        int completeThread = -1;
        await using TestRig rig = TestRig.Create(configure: d =>
        {
            d.OnQueueRq = (rq, _) =>
            {
                insideQueueRq = true;
                rq.Complete(BlockStatus.Ok);
                insideQueueRq = false;
                return BlockStatus.Ok;
            };
            d.OnComplete = rq =>
            {
                completeRanInside = insideQueueRq;
                completeThread = Environment.CurrentManagedThreadId;
                rq.End(rq.CompletionStatus);
            };
        });

        ValueTask read = rig.Device.ReadAsync(0, new byte[512]);

        // As blk_mq_complete_request on the submitting CPU: no hop to another thread, and not inside QueueRq.
        Assert.True(read.IsCompletedSuccessfully);
        Assert.False(completeRanInside);
        Assert.Equal(Environment.CurrentManagedThreadId, completeThread);
        await read;
        rig.AssertIdle();
    }

    // Inline completion (irqmode none) finishes the IO before the call returns; no await, so no state machine.
    private static void Consume(ValueTask io)
    {
        if (!io.IsCompletedSuccessfully)
        {
            throw new InvalidOperationException("expected an IO completed inline");
        }
    }
}
