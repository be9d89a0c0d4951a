using System.Diagnostics;

namespace Blkmq.Filters;

/// <summary>Holds each IO for a fixed time per operation before it goes below (nbdkit's delay filter).</summary>
internal sealed class DelayFilter : BlockFilter
{
    private readonly long[] _ticks = new long[(int)RequestOp.ZoneAppend + 1];
    private readonly FilterTimer _timer;
    private readonly string _parameters;

    public DelayFilter(FilterArguments arguments)
    {
        TimeSpan read = arguments.GetDuration("read", TimeSpan.Zero);
        TimeSpan write = arguments.GetDuration("write", TimeSpan.Zero);
        TimeSpan flush = arguments.GetDuration("flush", TimeSpan.Zero);
        TimeSpan trim = arguments.GetDuration("trim", TimeSpan.Zero);
        TimeSpan zero = arguments.GetDuration("zero", TimeSpan.Zero);
        TimeSpan all = arguments.GetDuration("all", TimeSpan.Zero);
        if (all > TimeSpan.Zero)
        {
            read = arguments.Has("read") ? read : all;
            write = arguments.Has("write") ? write : all;
            flush = arguments.Has("flush") ? flush : all;
            trim = arguments.Has("trim") ? trim : all;
            zero = arguments.Has("zero") ? zero : all;
        }

        _ticks[(int)RequestOp.Read] = ToTicks(read);
        _ticks[(int)RequestOp.Write] = ToTicks(write);
        _ticks[(int)RequestOp.Flush] = ToTicks(flush);
        _ticks[(int)RequestOp.Discard] = ToTicks(trim);
        _ticks[(int)RequestOp.WriteZeroes] = ToTicks(zero);
        _ticks[(int)RequestOp.ZoneAppend] = _ticks[(int)RequestOp.Write]; // a write, at the zone's write pointer
        CompletionDelay = new[] { read, write, flush, trim, zero }.Max();
        _parameters = FormattableString.Invariant($"read={read.TotalMilliseconds}ms,write={write.TotalMilliseconds}ms,flush={flush.TotalMilliseconds}ms,trim={trim.TotalMilliseconds}ms,zero={zero.TotalMilliseconds}ms");
        _timer = new FilterTimer("blkmq delay");
    }

    /// <inheritdoc/>
    public override string Name => "delay";

    /// <inheritdoc/>
    public override bool SupportsZoned => true;

    /// <inheritdoc/>
    public override string Parameters => _parameters;

    /// <inheritdoc/>
    public override TimeSpan CompletionDelay { get; }

    /// <inheritdoc/>
    public override void Queue(FilterIo io)
    {
        long ticks = (int)io.Op < _ticks.Length ? _ticks[(int)io.Op] : 0;
        if (ticks == 0)
        {
            io.Forward();
            return;
        }

        _timer.Schedule(io, Stopwatch.GetTimestamp() + ticks);
    }

    /// <inheritdoc/>
    public override void OnRemoving() => _timer.Release();

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        _timer.Dispose();
        base.Dispose(disposing);
    }

    private static long ToTicks(TimeSpan delay) => (long)(delay.TotalSeconds * Stopwatch.Frequency);
}
