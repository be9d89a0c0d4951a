namespace Blkmq.Emulation;

/// <summary>
/// A bandwidth and IOPS limit as a token bucket kept as one timestamp (the generic cell rate algorithm, virtual
/// scheduling form): every IO moves the theoretical arrival time on by what it costs at the configured rates, and
/// an IO conforms while that time is at most one <c>burst</c> ahead of now. One compare-and-swap per IO, no lock, no
/// thread. The null driver's <c>mbps</c> throttle refuses a non-conforming IO (<see cref="TryTake"/>: the block layer
/// requeues it); the <c>rate</c> filter delays it (<see cref="Reserve"/>: it starts at the time returned).
/// </summary>
/// <remarks>
/// An IO conforms whenever the budget is not overdrawn by more than a burst, however large it is, so large IOs are
/// never starved; the debt they leave delays the IOs after them. The long-run rate is exactly the limit.
/// </remarks>
public sealed class TokenBucket
{
    private readonly TimeProvider _time;
    private readonly double _ticksPerByte;
    private readonly long _ticksPerIo;
    private long _arrival;

    /// <summary>Initializes a bucket, full.</summary>
    /// <param name="bytesPerSecond">The bandwidth; 0 for no bandwidth limit.</param>
    /// <param name="iosPerSecond">The IO rate; 0 for no IO rate limit.</param>
    /// <param name="burst">How much budget may be taken ahead of time (and is there at the start).</param>
    /// <param name="time">The clock; <see cref="TimeProvider.System"/> when null.</param>
    public TokenBucket(long bytesPerSecond, long iosPerSecond, TimeSpan burst, TimeProvider? time = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytesPerSecond);
        ArgumentOutOfRangeException.ThrowIfNegative(iosPerSecond);
        ArgumentOutOfRangeException.ThrowIfLessThan(burst, TimeSpan.Zero);
        if (bytesPerSecond == 0 && iosPerSecond == 0)
        {
            throw new ArgumentException("A token bucket needs a bandwidth or an IO rate.", nameof(bytesPerSecond));
        }

        _time = time ?? TimeProvider.System;
        long frequency = _time.TimestampFrequency;
        _ticksPerByte = bytesPerSecond == 0 ? 0 : (double)frequency / bytesPerSecond;
        _ticksPerIo = iosPerSecond == 0 ? 0 : frequency / iosPerSecond;
        BurstTicks = (long)(burst.TotalSeconds * frequency);
        _arrival = _time.GetTimestamp();
    }

    /// <summary>Gets the burst in ticks of the clock.</summary>
    public long BurstTicks { get; }

    /// <summary>Takes the budget of one IO of <paramref name="bytes"/> if that leaves it overdrawn by at most a burst.</summary>
    /// <param name="bytes">The IO's size.</param>
    /// <returns>False when the IO must wait (nothing is taken): refuse it as busy and try again later.</returns>
    public bool TryTake(long bytes)
    {
        long now = _time.GetTimestamp();
        long cost = Cost(bytes);
        while (true)
        {
            long arrival = Volatile.Read(ref _arrival);
            long start = Math.Max(arrival, now);
            if (start - now > BurstTicks)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _arrival, start + cost, arrival) == arrival)
            {
                return true;
            }
        }
    }

    /// <summary>Takes the budget of one IO of <paramref name="bytes"/>, however overdrawn, and says when it may start.</summary>
    /// <param name="bytes">The IO's size.</param>
    /// <returns>The timestamp (of the bucket's clock) at which the IO may start; now or earlier means at once.</returns>
    public long Reserve(long bytes)
    {
        long now = _time.GetTimestamp();
        long cost = Cost(bytes);
        while (true)
        {
            long arrival = Volatile.Read(ref _arrival);
            long start = Math.Max(arrival, now);
            if (Interlocked.CompareExchange(ref _arrival, start + cost, arrival) == arrival)
            {
                return start - BurstTicks;
            }
        }
    }

    private long Cost(long bytes) => _ticksPerIo + (long)(bytes * _ticksPerByte);
}
