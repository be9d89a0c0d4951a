using Blkmq.Drivers.Null;
using Blkmq.Tests.Infrastructure;

namespace Blkmq.Tests;

public sealed class PlugMergeTests
{
    [Fact]
    public async Task AdjacentWrites_AreMergedIntoOneRequest()
    {
        await using NullBlock nullb = NullBlock.Create(new NullBlockOptions { IrqMode = IrqMode.None, MemoryBacked = true, Size = 1 << 20 });
        BlockDevice device = nullb.Disk.OpenDevice();
        var batch = new BlockBatch(device);
        byte[][] parts = [.. Enumerable.Range(0, 4).Select(i => Enumerable.Repeat((byte)(i + 1), 4096).ToArray())];
        for (int i = 0; i < 4; i++)
        {
            batch.Write(8192 + (i * 4096L), parts[i]);
        }

        await batch.SubmitAsync();

        Assert.Equal(1, batch.RequestCount);
        DiskStats stats = nullb.Disk.GetStatistics();
        Assert.Equal(1, stats.WriteIos);
        Assert.Equal(3, stats.WriteMerges);
        Assert.Equal(32, stats.WriteSectors);
        byte[] back = new byte[16384];
        await device.ReadAsync(8192, back);
        Assert.Equal(parts.SelectMany(p => p).ToArray(), back);
    }

    [Fact]
    public async Task MixedBatch_MergesOnlyLikeNeighbours_AndReportsEachStatus()
    {
        await using NullBlock nullb = NullBlock.Create(new NullBlockOptions { IrqMode = IrqMode.SoftIrq, MemoryBacked = true, Size = 1 << 20, Discard = true, MaxSectors = 16 });
        BlockDevice device = nullb.Disk.OpenDevice();
        var batch = new BlockBatch(device);
        byte[] data = new byte[4096];
        Array.Fill(data, (byte)7);
        int a = batch.Write(0, data);
        int b = batch.Write(4096, data, RequestFlags.Fua);
        int c = batch.Read(16384, new byte[4096]);
        int d = batch.Discard(0, 4096);
        int e = batch.Write(65536, new byte[65536]);

        await batch.SubmitAsync();

        // Without a write cache FUA is dropped, so a and b merge; e (64 KiB) is split by max_sectors=16 (8 KiB) into 8.
        Assert.Equal(3 + 8, batch.RequestCount);
        foreach (int index in new[] { a, b, c, d, e })
        {
            Assert.Equal(BlockStatus.Ok, batch.GetStatus(index));
        }

        Assert.Equal(0, nullb.TagSets[0].TagsInUse);
    }

    [Fact]
    public async Task BatchOnReadOnlyDisk_RefusesWritesOnly()
    {
        await using NullBlock nullb = NullBlock.Create(new NullBlockOptions { IrqMode = IrqMode.None, Size = 1 << 20 });
        nullb.Disk.SetReadOnly(true);
        var batch = new BlockBatch(nullb.Disk.OpenDevice());
        int write = batch.Write(0, new byte[512]);
        int read = batch.Read(0, new byte[512]);

        await batch.SubmitAsync();

        Assert.Equal(BlockStatus.ReadOnly, batch.GetStatus(write));
        Assert.Equal(BlockStatus.Ok, batch.GetStatus(read));
    }

    [Fact]
    public async Task BatchLargerThanQueueDepth_WaitsForTagsAndCompletes()
    {
        await using TestRig rig = TestRig.Create(fakeTime: false, depth: 2, configure: d => d.OnQueueRq = (rq, _) =>
        {
            rq.Complete(BlockStatus.Ok);
            return BlockStatus.Ok;
        });
        var batch = new BlockBatch(rig.Device);
        for (int i = 0; i < 10; i++)
        {
            batch.Read(i * 4096L, new byte[512]);
        }

        await batch.SubmitAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(10, batch.RequestCount);
        Assert.Equal(10, rig.Data.QueueRqCalls);
        rig.AssertIdle();
    }
}
