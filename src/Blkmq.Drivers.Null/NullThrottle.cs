namespace Blkmq.Drivers.Null;

/// <summary>
/// The bandwidth limit of <c>mbps</c> as a generic cell rate algorithm (a token bucket kept as one timestamp):
/// each admitted request moves a theoretical arrival time forward by its size over the rate; a request is
/// admitted while that time is at most one burst (null_blk's 20 ms timer tick) ahead of now. One compare-and-swap
/// per request, no timer thread: a refused request is requeued by the block layer, which retries it shortly.
/// </summary>
/// <remarks>
/// A request is admitted whenever the budget is not overdrawn, however large it is, so large requests are never
/// starved; the debt they leave delays the requests after them. The long-run rate is exactly the limit.
/// </remarks>
internal sealed class NullThrottle
{
    private const int TicksPerSecond = 50;

    private readonly TimeProvider _time;
    private readonly long _bytesPerSecond;
    private readonly long _frequency;
    private readonly long _burst;
    private long _arrival;

    public NullThrottle(int mebibytesPerSecond, TimeProvider time)
    {
        _time = time;
        _bytesPerSecond = (long)mebibytesPerSecond << 20;
        _frequency = time.TimestampFrequency;
        _burst = _frequency / TicksPerSecond;
        _arrival = time.GetTimestamp();
    }

    /// <summary>Charges <paramref name="bytes"/> to the budget if it is not overdrawn.</summary>
    /// <returns>False when the request must wait: refuse it as busy.</returns>
    public bool TryAdmit(int bytes)
    {
        long now = _time.GetTimestamp();
        long cost = (long)((Int128)bytes * _frequency / _bytesPerSecond);
        while (true)
        {
            long arrival = Volatile.Read(ref _arrival);
            long start = Math.Max(arrival, now);
            if (start - now > _burst)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _arrival, start + cost, arrival) == arrival)
            {
                return true;
            }
        }
    }
}
