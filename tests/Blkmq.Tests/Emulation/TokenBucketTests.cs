using Blkmq.Emulation;
using Microsoft.Extensions.Time.Testing;

namespace Blkmq.Tests.Emulation;

/// <summary>
/// The one token bucket of the null driver's <c>mbps</c> (<see cref="TokenBucket.TryTake"/>, refuse) and the rate
/// filter (<see cref="TokenBucket.Reserve"/>, delay): the same budget seen two ways.
/// </summary>
public sealed class TokenBucketTests
{
    [Fact]
    public void Reserve_IopsLimit_SpacesIosOneIntervalApart_AfterTheBurst()
    {
        var time = new FakeTimeProvider();
        var bucket = new TokenBucket(0, iosPerSecond: 10, burst: TimeSpan.FromMilliseconds(200), time);
        long now = time.GetTimestamp();
        long interval = time.TimestampFrequency / 10;

        // A burst of 200 ms of idle budget lets the first IOs start at once (up to 200 ms "early"), then one every 100 ms.
        Assert.True(bucket.Reserve(4096) <= now);
        Assert.True(bucket.Reserve(4096) <= now);
        Assert.True(bucket.Reserve(4096) <= now);
        Assert.Equal(now + interval, bucket.Reserve(4096));
        Assert.Equal(now + (2 * interval), bucket.Reserve(4096));
    }

    [Fact]
    public void Reserve_Bandwidth_LongRunRateIsTheLimit()
    {
        var time = new FakeTimeProvider();
        var bucket = new TokenBucket(1 << 20, 0, TimeSpan.Zero, time);
        long start = time.GetTimestamp();

        // 64 IOs of 64 KiB at 1 MiB/s: the last starts after 63/16 s.
        long last = 0;
        for (int i = 0; i < 64; i++)
        {
            last = bucket.Reserve(65536);
        }

        Assert.Equal(start + (time.TimestampFrequency * 63 / 16), last);
    }

    [Fact]
    public void TryTake_AndReserve_ShareOneBudget()
    {
        var time = new FakeTimeProvider();
        var bucket = new TokenBucket(0, iosPerSecond: 1000, burst: TimeSpan.Zero, time);

        // Reserving a second ahead overdraws the bucket: TryTake refuses until the clock catches up.
        for (int i = 0; i < 1000; i++)
        {
            bucket.Reserve(0);
        }

        Assert.False(bucket.TryTake(0));
        time.Advance(TimeSpan.FromMilliseconds(999));
        Assert.False(bucket.TryTake(0));
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(bucket.TryTake(0));
    }

    [Fact]
    public void Create_WithoutAnyLimit_Throws() =>
        Assert.Throws<ArgumentException>(() => new TokenBucket(0, 0, TimeSpan.Zero));
}
