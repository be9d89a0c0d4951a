using System.Diagnostics;
using System.Globalization;

namespace Blkmq.Filters;

/// <summary>
/// Limits bandwidth and IOPS (nbdkit's rate filter) with a token bucket kept as a virtual clock: each IO takes the
/// time its bytes and its one operation cost at the configured rates from the moment the bucket is next free, and
/// waits on the filter's timer when that moment is in the future. A burst of up to <c>burst</c> of accumulated idle
/// time passes at once. One compare-and-swap per IO, no lock.
/// </summary>
internal sealed class RateFilter : BlockFilter
{
    private readonly double _ticksPerByte;
    private readonly long _ticksPerIo;
    private readonly long _burstTicks;
    private readonly FilterTimer _timer;
    private readonly string _parameters;
    private long _next;

    public RateFilter(FilterArguments arguments)
    {
        long rate = arguments.GetSize("rate", 0);
        long iops = arguments.GetInt64("iops", 0, 0, 100_000_000);
        TimeSpan burst = arguments.GetDuration("burst", TimeSpan.FromMilliseconds(10));
        if (rate == 0 && iops == 0)
        {
            throw new FormatException("filter 'rate': give rate=BYTES (per second, K/M/G suffixes) or iops=N, or both.");
        }

        _ticksPerByte = rate == 0 ? 0 : (double)Stopwatch.Frequency / rate;
        _ticksPerIo = iops == 0 ? 0 : Stopwatch.Frequency / iops;
        _burstTicks = (long)(burst.TotalSeconds * Stopwatch.Frequency);
        _next = Stopwatch.GetTimestamp();
        _parameters = string.Create(CultureInfo.InvariantCulture, $"rate={rate},iops={iops},burst={burst.TotalMilliseconds}ms");
        _timer = new FilterTimer("blkmq rate");
    }

    /// <inheritdoc/>
    public override string Name => "rate";

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

        long cost = _ticksPerIo + (long)(io.Length * _ticksPerByte);
        long now = Stopwatch.GetTimestamp();
        long start;
        while (true)
        {
            long next = Volatile.Read(ref _next);
            start = Math.Max(next, now - _burstTicks);
            if (Interlocked.CompareExchange(ref _next, start + cost, next) == next)
            {
                break;
            }
        }

        if (start <= now)
        {
            io.Forward();
            return;
        }

        _timer.Schedule(io, start);
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        _timer.Dispose();
        base.Dispose(disposing);
    }
}
