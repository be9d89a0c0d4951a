using System.Diagnostics;
using Blkmq.Drivers.Null;
using Blkmq.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace Blkmq.Tests.NullBlk;

/// <summary>mbps: requests over the bandwidth budget are requeued, not slept on.</summary>
public sealed class NullBlkThrottleTests
{
    [Fact]
    public async Task Mbps_RequestOverBudgetWaitsUntilTheBudgetRefills()
    {
        var time = new FakeTimeProvider();
        await using NullBlock nullb = NullBlock.Create(new NullBlockOptions { Mbps = 1, IrqMode = IrqMode.None, Size = 1 << 20, TimeProvider = time });
        BlockDevice device = nullb.Disk.OpenDevice();

        // 64 KiB at 1 MiB/s leave the budget 62.5 ms overdrawn, more than the 20 ms burst.
        ValueTask first = device.WriteAsync(0, new byte[65536]);
        Assert.True(first.IsCompletedSuccessfully);
        await first;

        // Refused as busy and requeued: the submitting call returned, and on a frozen clock nothing retries it.
        Task second = device.WriteAsync(0, new byte[4096]).AsTask();
        Assert.False(second.IsCompleted);
        Assert.Equal(1, nullb.Disk.InFlight);

        // The block layer's restart timer retries it once the budget has refilled.
        time.Advance(TimeSpan.FromMilliseconds(100));
        await second.Guard();
    }

    [Fact]
    public async Task Mbps_ThroughputIsNearTheLimit()
    {
        // The one timing-based check, tolerant on purpose: 20 MiB/s over one second, 70% to 130%.
        await using NullBlock nullb = NullBlock.Create("mbps=20,irqmode=0,size=16M");
        BlockDevice device = nullb.Disk.OpenDevice();
        long bytes = 0;
        var clock = Stopwatch.StartNew();
        var writers = new Task[4];
        for (int w = 0; w < writers.Length; w++)
        {
            long offset = w * 65536L;
            writers[w] = Task.Run(
                async () =>
                {
                    byte[] data = new byte[65536];
                    while (clock.Elapsed < TimeSpan.FromSeconds(1))
                    {
                        await device.WriteAsync(offset, data);
                        Interlocked.Add(ref bytes, data.Length);
                    }
                },
                TestContext.Current.CancellationToken);
        }

        await Task.WhenAll(writers).Guard();
        double mebibytesPerSecond = bytes / clock.Elapsed.TotalSeconds / (1 << 20);
        Assert.InRange(mebibytesPerSecond, 20 * 0.7, 20 * 1.3);
    }
}
