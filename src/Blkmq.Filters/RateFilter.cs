using System.Diagnostics;
using System.Globalization;
using Blkmq.Emulation;

namespace Blkmq.Filters;

/// <summary>
/// Limits bandwidth and IOPS (nbdkit's rate filter) with the token bucket the null driver's <c>mbps</c> uses
/// (<see cref="TokenBucket"/>): each IO takes what its bytes and its one operation cost at the configured rates, and
/// waits on the filter's timer when the bucket says it may start later. A burst of up to <c>burst</c> of accumulated
/// idle time passes at once. One compare-and-swap per IO, no lock.
/// </summary>
internal sealed class RateFilter : BlockFilter
{
    private readonly TokenBucket _bucket;
    private readonly FilterTimer _timer;
    private readonly string _parameters;

    public RateFilter(FilterArguments arguments)
    {
        long rate = arguments.GetSize("rate", 0);
        long iops = arguments.GetInt64("iops", 0, 0, 100_000_000);
        TimeSpan burst = arguments.GetDuration("burst", TimeSpan.FromMilliseconds(10));
        if (rate == 0 && iops == 0)
        {
            throw new FormatException("filter 'rate': give rate=BYTES (per second, K/M/G suffixes) or iops=N, or both.");
        }

        // The system clock's timestamps are Stopwatch's, the filter timer's.
        _bucket = new TokenBucket(rate, iops, burst, TimeProvider.System);
        _parameters = string.Create(CultureInfo.InvariantCulture, $"rate={rate},iops={iops},burst={burst.TotalMilliseconds}ms");
        _timer = new FilterTimer("blkmq rate");
    }

    /// <inheritdoc/>
    public override string Name => "rate";

    /// <inheritdoc/>
    public override bool SupportsZoned => true;

    /// <inheritdoc/>
    public override string Parameters => _parameters;

    /// <inheritdoc/>
    public override TimeSpan CompletionDelay => TimeSpan.FromSeconds(5);

    /// <inheritdoc/>
    public override void Queue(FilterIo io)
    {
        if (io.Op == RequestOp.Flush)
        {
            io.Forward();
            return;
        }

        long start = _bucket.Reserve(io.Length);
        if (start <= Stopwatch.GetTimestamp())
        {
            io.Forward();
            return;
        }

        _timer.Schedule(io, start);
    }

    /// <inheritdoc/>
    public override void OnRemoving() => _timer.Release();

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        _timer.Dispose();
        base.Dispose(disposing);
    }
}
