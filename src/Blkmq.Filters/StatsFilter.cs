using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Text;

namespace Blkmq.Filters;

/// <summary>
/// Counts IO per operation (requests, bytes, errors) and keeps a latency histogram per operation in powers of two of
/// nanoseconds, measured from the filter to the end below (nbdkit's stats filter). Reported on exit and by
/// <c>blkmq ctl stats</c>.
/// </summary>
/// <remarks>
/// No shared atomic per IO: each tag slot of the filter disk has its own shard (<see cref="FilterIo.SlotState"/>),
/// written with plain stores by the one thread that finishes that slot's IO (a slot serves one IO at a time, and the
/// tag's release and next allocation order one IO's writes before the next's), as the block layer's own disk
/// statistics do. A report sums the shards with 64-bit reads: it may be a few IOs behind, never torn.
/// </remarks>
internal sealed class StatsFilter : BlockFilter
{
    private const int Ops = 5;
    private const int Buckets = 40;

    // Per shard and operation: count, bytes, errors, then the histogram.
    private const int OpLongs = 3 + Buckets;
    private static readonly string[] s_opNames = ["read", "write", "flush", "trim", "zero"];
    private static readonly double s_nsPerTick = 1e9 / Stopwatch.Frequency;

    private readonly Lock _shardsLock = new();
    private readonly List<long[]> _shards = [];
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
            long[] shard = io.SlotState as long[] ?? AddShard(io);
            long ns = (long)((Stopwatch.GetTimestamp() - io.Timestamp) * s_nsPerTick);
            int bucket = Math.Min(Buckets - 1, 64 - BitOperations.LeadingZeroCount((ulong)Math.Max(ns, 1)));
            ref long counters = ref shard[op * OpLongs];
            counters++;
            Unsafe.Add(ref counters, 1) += io.Length;
            if (status != BlockStatus.Ok)
            {
                Unsafe.Add(ref counters, 2)++;
            }

            Unsafe.Add(ref counters, 3 + bucket)++;
        }

        io.End(status);
    }

    /// <inheritdoc/>
    public override string Report()
    {
        double seconds = Stopwatch.GetElapsedTime(_created).TotalSeconds;
        long[] sums = Sum();
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"stats: elapsed {seconds:F3} s\n");
        for (int op = 0; op < Ops; op++)
        {
            long count = sums[op * OpLongs];
            if (count == 0)
            {
                continue;
            }

            long bytes = sums[(op * OpLongs) + 1];
            text.Append(CultureInfo.InvariantCulture, $"{s_opNames[op]}: {count} ops, {bytes} bytes, {sums[(op * OpLongs) + 2]} errors, {count / Math.Max(seconds, 1e-9):F1} ops/s, {bytes / Math.Max(seconds, 1e-9) / 1048576:F2} MiB/s\n");
            text.Append("  latency (ns, <= bucket): ");
            for (int b = 0; b < Buckets; b++)
            {
                long n = sums[(op * OpLongs) + 3 + b];
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
    public long Count(RequestOp op) => Sum()[(int)op * OpLongs];

    // Once per slot, on its first IO: never again for that slot.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private long[] AddShard(FilterIo io)
    {
        var shard = new long[Ops * OpLongs];
        lock (_shardsLock)
        {
            _shards.Add(shard);
        }

        io.SlotState = shard;
        return shard;
    }

    private long[] Sum()
    {
        var sums = new long[Ops * OpLongs];
        lock (_shardsLock)
        {
            foreach (long[] shard in _shards)
            {
                for (int i = 0; i < sums.Length; i++)
                {
                    sums[i] += Volatile.Read(ref shard[i]);
                }
            }
        }

        return sums;
    }
}
