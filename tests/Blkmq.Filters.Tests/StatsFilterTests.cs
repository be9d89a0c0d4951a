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
}
