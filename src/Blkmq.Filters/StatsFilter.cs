using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using System.Text;

namespace Blkmq.Filters;

/// <summary>
/// Counts IO per operation (requests, bytes, errors) and keeps a latency histogram per operation in powers of two of
/// nanoseconds, measured from the filter to the end below (nbdkit's stats filter). Counters are shared by every
/// thread (interlocked adds); reported on exit and by <c>blkmq ctl stats</c>.
/// </summary>
internal sealed class StatsFilter : BlockFilter
{
    private const int Ops = 5;
    private const int Buckets = 40;
    private static readonly string[] s_opNames = ["read", "write", "flush", "trim", "zero"];
    private static readonly double s_nsPerTick = 1e9 / Stopwatch.Frequency;

    private readonly long[] _count = new long[Ops * 8];
    private readonly long[] _bytes = new long[Ops * 8];
    private readonly long[] _errors = new long[Ops * 8];
    private readonly long[] _histogram = new long[Ops * Buckets];
    private readonly long _created = Stopwatch.GetTimestamp();

    /// <inheritdoc/>
    public override string Name => "stats";

    /// <inheritdoc/>
    public override void Queue(FilterIo io)
    {
        io.Timestamp = Stopwatch.GetTimestamp();
        io.Forward();
    }

    /// <inheritdoc/>
    public override void OnForwarded(FilterIo io, BlockStatus status)
    {
        int op = (int)io.Op;
        if (op < Ops)
        {
            // Counters of different operations sit 64 bytes apart, so readers and writers of one op do not share a line with another's.
            Interlocked.Increment(ref _count[op * 8]);
            Interlocked.Add(ref _bytes[op * 8], io.Length);
            if (status != BlockStatus.Ok)
            {
                Interlocked.Increment(ref _errors[op * 8]);
            }

            long ns = (long)((Stopwatch.GetTimestamp() - io.Timestamp) * s_nsPerTick);
            int bucket = Math.Min(Buckets - 1, 64 - BitOperations.LeadingZeroCount((ulong)Math.Max(ns, 1)));
            Interlocked.Increment(ref _histogram[(op * Buckets) + bucket]);
        }

        io.End(status);
    }

    /// <inheritdoc/>
    public override string Report()
    {
        double seconds = Stopwatch.GetElapsedTime(_created).TotalSeconds;
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"stats: elapsed {seconds:F3} s\n");
        for (int op = 0; op < Ops; op++)
        {
            long count = Volatile.Read(ref _count[op * 8]);
            if (count == 0)
            {
                continue;
            }

            long bytes = Volatile.Read(ref _bytes[op * 8]);
            text.Append(CultureInfo.InvariantCulture, $"{s_opNames[op]}: {count} ops, {bytes} bytes, {Volatile.Read(ref _errors[op * 8])} errors, {count / Math.Max(seconds, 1e-9):F1} ops/s, {bytes / Math.Max(seconds, 1e-9) / 1048576:F2} MiB/s\n");
            text.Append("  latency (ns, <= bucket): ");
            for (int b = 0; b < Buckets; b++)
            {
                long n = Volatile.Read(ref _histogram[(op * Buckets) + b]);
                if (n != 0)
                {
                    text.Append(CultureInfo.InvariantCulture, $"{1L << b}:{n} ");
                }
            }

            text.Append('\n');
        }

        return text.ToString().TrimEnd('\n');
    }

    /// <summary>Gets the number of completed IOs of <paramref name="op"/>.</summary>
    public long Count(RequestOp op) => Volatile.Read(ref _count[(int)op * 8]);
}
