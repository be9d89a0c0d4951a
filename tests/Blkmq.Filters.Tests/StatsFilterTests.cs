using Blkmq.Drivers;

namespace Blkmq.Filters.Tests;

/// <summary>The stats filter's per-slot shards add up to every IO, whichever thread and tag ended it.</summary>
public sealed class StatsFilterTests
{
    [Theory]
    [InlineData("null:irqmode=0,size=16M|stats")]
    [InlineData("null:irqmode=1,size=16M|stats")]
    public async Task ConcurrentIo_CountsEveryIoOnce(string stack)
    {
        const int Workers = 4;
        const int PerWorker = 3000;
        await using DriverInstance instance = Stacks.Create(stack);
        BlockDevice device = instance.Disk.OpenDevice();
        await Task.WhenAll(Enumerable.Range(0, Workers).Select(w => Task.Run(async () =>
        {
            byte[] buffer = new byte[4096];
            for (int i = 0; i < PerWorker; i++)
            {
                long offset = ((w * PerWorker) + i) % 1024 * 4096L;
                BlockStatus status = (i % 3) == 0
                    ? await device.WriteStatusAsync(offset, buffer)
                    : await device.ReadStatusAsync(offset, buffer);
                Assert.Equal(BlockStatus.Ok, status);
            }
        })));

        var stats = (StatsFilter)Assert.Single(FilterStack.FindFilters(instance));
        long writes = Workers * ((PerWorker + 2) / 3);
        Assert.Equal(writes, stats.Count(RequestOp.Write));
        Assert.Equal((Workers * PerWorker) - writes, stats.Count(RequestOp.Read));
        string report = stats.Report();
        Assert.Contains($"read: {(Workers * PerWorker) - writes} ops, {((Workers * PerWorker) - writes) * 4096} bytes, 0 errors", report, StringComparison.Ordinal);
        Assert.Contains($"write: {writes} ops, {writes * 4096} bytes, 0 errors", report, StringComparison.Ordinal);
    }
    [Theory]
    [InlineData("null:irqmode=0,size=16M,badblocks=2048-2055|stats:sample=1")]
    [InlineData("null:irqmode=1,size=16M|error:sectors=2048-2055|stats:sample=1")]
    [InlineData("null:irqmode=1,size=16M|error:sectors=2048-2055|stats:sample=1|pass")]
    public async Task Errors_AreCountedExactly_WithBytesAndLatencies(string stack)
    {
        const int Reads = 500;
        await using DriverInstance instance = Stacks.Create(stack);
        BlockDevice device = instance.Disk.OpenDevice();
        byte[] buffer = new byte[4096];
        int failed = 0;
        for (int i = 0; i < Reads; i++)
        {
            // Every tenth read touches the bad 4 KiB at 1 MiB.
            long offset = i % 10 == 0 ? 1 << 20 : (i % 100) * 8192L;
            if (await device.ReadStatusAsync(offset, buffer) != BlockStatus.Ok)
            {
                failed++;
            }
        }

        for (int i = 0; i < 40; i++)
        {
            Assert.Equal(BlockStatus.Ok, await device.WriteStatusAsync(i * 4096L, buffer));
        }

        Assert.Equal(Reads / 10, failed);
        var stats = (StatsFilter)FilterStack.FindFilters(instance).Single(f => f.Name == "stats");
        Assert.Equal(Reads, stats.Count(RequestOp.Read));
        Assert.Equal(failed, stats.Errors(RequestOp.Read));
        Assert.Equal(Reads * 4096L, stats.Bytes(RequestOp.Read));
        Assert.Equal(40, stats.Count(RequestOp.Write));
        Assert.Equal(0, stats.Errors(RequestOp.Write));

        // sample=1 times every IO: the histogram holds each one.
        Assert.Equal(Reads, stats.Timed(RequestOp.Read));
        Assert.Equal(40, stats.Timed(RequestOp.Write));
        Assert.Contains($"read: {Reads} ops, {Reads * 4096L} bytes, {failed} errors", stats.Report(), StringComparison.Ordinal);
        Assert.Equal(failed, instance.Disk.GetStatistics().ReadErrors);
    }

    [Theory]
    [InlineData("|stats:sample=8", 4000, 8, "sample=8")]
    [InlineData("|stats", 1000, StatsFilter.DefaultSample, "")]
    public async Task Sampled_TimesOneIoInNPerSlot_CountsAll(string filter, int reads, int sample, string parameters)
    {
        await using DriverInstance instance = Stacks.Create("null:irqmode=0,size=16M" + filter);
        BlockDevice device = instance.Disk.OpenDevice();
        byte[] buffer = new byte[4096];
        for (int i = 0; i < reads; i++)
        {
            Assert.Equal(BlockStatus.Ok, await device.ReadStatusAsync(i % 64 * 4096L, buffer));
        }

        var stats = (StatsFilter)Assert.Single(FilterStack.FindFilters(instance));
        Assert.Equal(reads, stats.Count(RequestOp.Read));
        int slots = instance.Disk.TagSet.RequestCount;
        Assert.InRange(stats.Timed(RequestOp.Read), Math.Max(1, (reads - ((sample - 1) * slots)) / sample), (reads / sample) + slots);
        Assert.Contains($"1 IO in {sample} timed", stats.Report(), StringComparison.Ordinal);
        Assert.Equal(parameters, stats.Parameters);
    }

    [Theory]
    [InlineData("memory:size=16M,irqmode=0,cache_size=4M|stats")]
    [InlineData("memory:size=16M,irqmode=1,cache_size=4M|stats:sample=1|pass")]
    [InlineData("memory:size=16M,irqmode=2,cache_size=4M|error:sectors=0-7,ops=write|stats:sample=2")]
    public async Task EachOperation_IsCountedApart_WriteZeroesNotAsWrites(string stack)
    {
        await using DriverInstance instance = Stacks.Create(stack);
        BlockDevice device = instance.Disk.OpenDevice();
        bool failsFirstBlock = stack.Contains("error", StringComparison.Ordinal);
        byte[] buffer = new byte[8192];
        for (int i = 0; i < 6; i++)
        {
            BlockStatus status = await device.WriteStatusAsync(i * 8192L, buffer);
            Assert.Equal(failsFirstBlock && i == 0 ? BlockStatus.IoError : BlockStatus.Ok, status);
        }

        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(BlockStatus.Ok, await device.ReadStatusAsync(i * 4096L, buffer.AsMemory(0, 4096)));
        }

        for (int i = 0; i < 4; i++)
        {
            Assert.Equal(BlockStatus.Ok, await device.WriteZeroesStatusAsync((1 << 20) + (i * 65536L), 65536));
        }

        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(BlockStatus.Ok, await device.DiscardStatusAsync((2 << 20) + (i * 16384L), 16384));
        }

        Assert.Equal(BlockStatus.Ok, await device.FlushStatusAsync());
        Assert.Equal(BlockStatus.Ok, await device.FlushStatusAsync());

        var stats = (StatsFilter)FilterStack.FindFilters(instance).Single(f => f.Name == "stats");
        Assert.Equal((6, 6 * 8192L, failsFirstBlock ? 1 : 0), (stats.Count(RequestOp.Write), stats.Bytes(RequestOp.Write), stats.Errors(RequestOp.Write)));
        Assert.Equal((5, 5 * 4096L, 0), (stats.Count(RequestOp.Read), stats.Bytes(RequestOp.Read), stats.Errors(RequestOp.Read)));
        Assert.Equal((4, 4 * 65536L, 0), (stats.Count(RequestOp.WriteZeroes), stats.Bytes(RequestOp.WriteZeroes), stats.Errors(RequestOp.WriteZeroes)));
        Assert.Equal((3, 3 * 16384L, 0), (stats.Count(RequestOp.Discard), stats.Bytes(RequestOp.Discard), stats.Errors(RequestOp.Discard)));
        Assert.Equal((2, 0L, 0), (stats.Count(RequestOp.Flush), stats.Bytes(RequestOp.Flush), stats.Errors(RequestOp.Flush)));
        string report = stats.Report();
        Assert.Contains("zero: 4 ops, 262144 bytes, 0 errors", report, StringComparison.Ordinal);
        Assert.Contains("trim: 3 ops, 49152 bytes, 0 errors", report, StringComparison.Ordinal);
        Assert.Contains("flush: 2 ops, 0 bytes, 0 errors", report, StringComparison.Ordinal);

        // The disk's statistics count write zeroes as writes (Linux does), and apart as well.
        DiskStats disk = instance.Disk.GetStatistics();
        Assert.Equal((10, 4), (disk.WriteIos, disk.WriteZeroesIos));
        Assert.Equal(((6 * 8192) + (4 * 65536)) / 512, disk.WriteSectors);
    }

    [Fact]
    public void Sample_NotAPowerOfTwo_IsRefused()
    {
        FormatException error = Assert.Throws<FormatException>(() => Stacks.Create("null:size=16M|stats:sample=3"));
        Assert.Contains("power of two", error.Message, StringComparison.Ordinal);
    }
}
