using Blkmq.Drivers;

namespace Blkmq.Filters.Tests;

/// <summary>
/// Filters that map IO 1:1 (pass, stats, offset, partition, readonly) are bio-based <see cref="StackedDisk"/>s: data
/// lands where it should, every front-end path still works over them, and their disks keep their own statistics.
/// </summary>
public sealed class StackedFilterDiskTests
{
    [Theory]
    [InlineData("null:size=16M|pass", true)]
    [InlineData("null:size=16M|stats", true)]
    [InlineData("null:size=16M|readonly", true)]
    [InlineData("null:size=16M|offset:offset=1M", true)]
    [InlineData("null:size=16M|delay:read=1ms", false)]
    [InlineData("null:size=16M|pass|delay:read=1ms", false)]
    public async Task OneToOneFilters_AreStackedDisks_OthersKeepRequests(string stack, bool stacked)
    {
        await using DriverInstance instance = Stacks.Create(stack);
        Assert.Equal(stacked, instance.Disk is StackedDisk);
    }

    [Fact]
    public async Task Offset_WritesLandShifted_AndReadBack()
    {
        await using DriverInstance instance = Stacks.Create("memory:irqmode=0,size=16M|pass|offset:offset=1M,range=4M|stats");
        Disk top = instance.Disk;
        Assert.Equal(4L << 20, top.Capacity);
        BlockDevice device = top.OpenDevice();
        byte[] data = Stacks.Pattern(64 * 1024, 1);
        await device.WriteAsync(8192, data);
        byte[] back = new byte[data.Length];
        await device.ReadAsync(8192, back);
        Assert.Equal(data, back);

        // Below the offset filter (the pass disk), the data sits 1 MiB further on.
        Disk pass = ((StackedDisk)((StackedDisk)top).Lower).Lower;
        byte[] below = new byte[data.Length];
        await pass.OpenDevice().ReadAsync((1 << 20) + 8192, below);
        Assert.Equal(data, below);

        // The last block of the range, and nothing past it.
        await device.WriteAsync((4 << 20) - 4096, data.AsMemory(0, 4096));
        Assert.Equal(BlockStatus.Invalid, await device.ReadStatusAsync(4 << 20, new byte[4096]));
    }

    [Fact]
    public async Task ReadOnly_RefusesEveryWritePath()
    {
        await using DriverInstance instance = Stacks.Create("memory:irqmode=0,size=16M|readonly");
        BlockDevice device = instance.Disk.OpenDevice();
        Assert.True(instance.Disk.IsReadOnly);
        Assert.Equal(BlockStatus.ReadOnly, await device.WriteStatusAsync(0, new byte[4096]));
        Assert.Equal(BlockStatus.ReadOnly, await device.WriteZeroesStatusAsync(0, 4096));

        // Even with the flag cleared at run time, the filter itself refuses writes.
        instance.Disk.SetReadOnly(false);
        Assert.Equal(BlockStatus.ReadOnly, await device.WriteStatusAsync(0, new byte[4096]));
        Assert.Equal(BlockStatus.Ok, await device.ReadStatusAsync(0, new byte[4096]));
    }

    [Fact]
    public async Task BatchesStreamsAndSplits_ThroughAnOffsetStack_RoundTrip()
    {
        await using DriverInstance instance = Stacks.Create("memory:irqmode=1,size=16M,max_sectors=16|stats|offset:offset=2M");
        BlockDevice device = instance.Disk.OpenDevice();

        // A batch of writes merged into requests, then read back by a batch.
        byte[][] blocks = [.. Enumerable.Range(0, 8).Select(i => Stacks.Pattern(4096, 10 + i))];
        var writes = new BlockBatch(device);
        for (int i = 0; i < blocks.Length; i++)
        {
            writes.Write(i * 4096L, blocks[i]);
        }

        await writes.SubmitAsync();
        var reads = new BlockBatch(device);
        byte[][] back = [.. Enumerable.Range(0, 8).Select(_ => new byte[4096])];
        for (int i = 0; i < back.Length; i++)
        {
            reads.Read(i * 4096L, back[i]);
        }

        await reads.SubmitAsync();
        for (int i = 0; i < blocks.Length; i++)
        {
            Assert.Equal(blocks[i], back[i]);
        }

        // An IO larger than a request (max_sectors=16: 8 KiB) is split above the stacked disks.
        byte[] large = Stacks.Pattern(100 * 1024, 3);
        await device.WriteAsync(1 << 20, large);
        byte[] largeBack = new byte[large.Length];
        await device.ReadAsync(1 << 20, largeBack);
        Assert.Equal(large, largeBack);

        // A byte-granular stream: read-modify-write of partial blocks under the stacked disk's range lock.
        await using Stream stream = device.AsStream();
        byte[] odd = Stacks.Pattern(1000, 4);
        stream.Position = 4096 + 17;
        await stream.WriteAsync(odd);
        byte[] oddBack = new byte[odd.Length];
        stream.Position = 4096 + 17;
        await stream.ReadExactlyAsync(oddBack);
        Assert.Equal(odd, oddBack);
        Assert.Equal(blocks[1].AsSpan(0, 17).ToArray(), (await ReadAsync(device, 4096, 4096))[..17]);
    }

    [Fact]
    public async Task PolledIo_ThroughAStackedDisk_CompletesByPollingTheTop()
    {
        await using DriverInstance instance = Stacks.Create("null:irqmode=0,size=16M,poll_queues=1|pass");
        BlockDevice device = instance.Disk.OpenDevice();
        ValueTask<BlockStatus> read = device.ReadStatusAsync(0, new byte[4096], RequestFlags.Polled);
        for (int i = 0; i < 100_000 && !read.IsCompleted; i++)
        {
            device.Poll();
        }

        Assert.True(read.IsCompleted);
        Assert.Equal(BlockStatus.Ok, await read);
    }

    [Fact]
    public async Task TopDiskStatistics_CountItsOwnIo()
    {
        await using DriverInstance instance = Stacks.Create("null:irqmode=0,size=16M|pass|offset:offset=1M");
        BlockDevice device = instance.Disk.OpenDevice();
        byte[] buffer = new byte[4096];
        for (int i = 0; i < 100; i++)
        {
            await device.ReadAsync(i * 4096L, buffer);
        }

        for (int i = 0; i < 30; i++)
        {
            await device.WriteAsync(i * 4096L, buffer);
        }

        DiskStats top = instance.Disk.GetStatistics();
        Assert.Equal(100, top.ReadIos);
        Assert.Equal(30, top.WriteIos);
        Assert.Equal(100 * 8, top.ReadSectors);
        Assert.Equal(0, top.InFlight);
        DiskStats pass = ((StackedDisk)instance.Disk).Lower.GetStatistics();
        Assert.Equal(100, pass.ReadIos);
        Assert.Equal(30, pass.WriteIos);
    }

    [Fact]
    public async Task MixedStack_RequestFiltersBetweenStackedOnes_RoundTripAndCount()
    {
        await using DriverInstance instance = Stacks.Create("memory:irqmode=1,size=16M|delay:read=1ms|stats|pass|delay:write=1ms|offset:offset=4K");
        BlockDevice device = instance.Disk.OpenDevice();
        byte[][] data = [.. Enumerable.Range(0, 32).Select(i => Stacks.Pattern(4096, 100 + i))];
        await Task.WhenAll(data.Select((d, i) => device.WriteAsync(i * 8192L, d).AsTask()));
        byte[][] back = [.. data.Select(_ => new byte[4096])];
        await Task.WhenAll(back.Select((b, i) => device.ReadAsync(i * 8192L, b).AsTask()));
        for (int i = 0; i < data.Length; i++)
        {
            Assert.Equal(data[i], back[i]);
        }

        var stats = (StatsFilter)FilterStack.FindFilters(instance).Single(f => f.Name == "stats");
        Assert.Equal(32, stats.Count(RequestOp.Write));
        Assert.Equal(32, stats.Count(RequestOp.Read));
    }

    private static async Task<byte[]> ReadAsync(BlockDevice device, long offset, int length)
    {
        byte[] buffer = new byte[length];
        await device.ReadAsync(offset, buffer);
        return buffer;
    }
}
