using System.Diagnostics;
using Blkmq.Drivers;

namespace Blkmq.Filters.Tests;

/// <summary>The delay filter's timer hands IOs back by deadline, whatever order they were parked in.</summary>
public sealed class FilterTimerTests
{
    [Fact]
    public async Task AnEarlierDeadlineParkedLater_IsNotHeldBehindTheLaterOne()
    {
        // The write parks first, for 2 s; the read after it, for 10 ms: the timer must re-arm for the read.
        await using DriverInstance stack = Stacks.Create("memory:size=1M|delay:write=2s,read=10ms");
        BlockDevice device = stack.Disk.OpenDevice();
        var stopwatch = Stopwatch.StartNew();
        ValueTask write = device.WriteAsync(0, new byte[4096]);
        await Task.Delay(20, TestContext.Current.CancellationToken);
        await device.ReadAsync(4096, new byte[4096]);
        TimeSpan readDone = stopwatch.Elapsed;
        Assert.False(write.IsCompleted, "the write's 2 s delay is not over");
        Assert.True(readDone < TimeSpan.FromSeconds(1.5), $"the read ended after {readDone.TotalMilliseconds:F0} ms, behind the write");
        await write;
        Assert.True(stopwatch.Elapsed >= TimeSpan.FromSeconds(1.9), $"the write ended after {stopwatch.Elapsed.TotalMilliseconds:F0} ms");
    }

    [Fact]
    public async Task Disposing_HandsParkedIosBackAtOnce()
    {
        DriverInstance stack = Stacks.Create("memory:size=1M|delay:write=30s");
        BlockDevice device = stack.Disk.OpenDevice();
        var stopwatch = Stopwatch.StartNew();
        ValueTask write = device.WriteAsync(0, new byte[4096]);
        await Task.Delay(20, TestContext.Current.CancellationToken);
        await stack.DisposeAsync();
        await write;
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(20), $"disposal took {stopwatch.Elapsed.TotalSeconds:F1} s");
    }
}
