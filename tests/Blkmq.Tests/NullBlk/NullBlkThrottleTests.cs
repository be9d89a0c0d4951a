using Blkmq.Drivers.Null;
using Blkmq.Emulation;
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
    public void Mbps_LongRunRateIsTheLimitPlusOneBurst()
    {
        // On a fake clock, a greedy submitter that retries every millisecond for ten simulated seconds gets
        // exactly rate x time, plus at most the 20 ms burst and one request of debt: no more, and nothing starves.
        var time = new FakeTimeProvider();
        var throttle = new TokenBucket(20L << 20, 0, TimeSpan.FromMilliseconds(20), time);
        const int RequestBytes = 65536;
        const long Rate = 20L << 20;
        long admitted = 0;
        for (int millisecond = 0; millisecond < 10_000; millisecond++)
        {
            while (throttle.TryTake(RequestBytes))
            {
                admitted += RequestBytes;
            }

            time.Advance(TimeSpan.FromMilliseconds(1));
        }

        long expected = Rate * 10;
        Assert.InRange(admitted, expected - RequestBytes, expected + (Rate / 50) + RequestBytes);
    }

    [Fact]
    public void Mbps_RequestLargerThanTheBurstIsAdmittedWhenTheBudgetIsClear()
    {
        var time = new FakeTimeProvider();
        var throttle = new TokenBucket(1L << 20, 0, TimeSpan.FromMilliseconds(20), time);

        // 4 MiB at 1 MiB/s is four seconds of budget: admitted at once (never starved), then nothing for ~4 s.
        Assert.True(throttle.TryTake(4 << 20));
        Assert.False(throttle.TryTake(512));
        time.Advance(TimeSpan.FromSeconds(3.9));
        Assert.False(throttle.TryTake(512));
        time.Advance(TimeSpan.FromMilliseconds(100));
        Assert.True(throttle.TryTake(512));
    }
}
