using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Text;

namespace Blkmq.Filters;

/// <summary>
/// Counts IO per operation (requests, bytes, errors) and keeps a latency histogram per operation in powers of two of
/// nanoseconds, measured from the submission below to its end (nbdkit's stats filter). Reported on exit and by
/// <c>blkmq ctl stats</c>. Bio-based: its disk is a <see cref="StackedDisk"/> and this filter the disk's end observer.
/// </summary>
/// <remarks>
/// No shared atomic per IO: each request slot of the tag set below has its own shard, written with plain stores by
/// the one thread that accounts that slot's IO (<see cref="IRequestEndObserver"/>: calls for one slot never overlap
/// and are ordered), as the block layer's own disk statistics do. A report sums the shards with 64-bit reads: it may
/// be a few IOs behind, never torn. Counts, bytes and errors are exact; latency is timed with the precise clock for one
/// IO in <c>sample</c> per slot (default 64; <c>sample=1</c> times every IO), since a precise clock read costs tens of
/// nanoseconds on virtual machines, more than the rest of the filter: like dm-stats, whose precise timestamps are an
/// option, the default keeps the filter's cost to counting.
/// </remarks>
internal sealed class StatsFilter : BlockFilter, IRequestEndObserver
{
    /// <summary>One IO in this many per slot is timed unless <c>sample=</c> says otherwise.</summary>
    public const int DefaultSample = 64;

    private const int Ops = 5;
    private const int Buckets = 40;

    // Per shard and operation: count, bytes, errors, then the histogram.
    private const int OpLongs = 3 + Buckets;

    // A shard's counters sit between 64 bytes of padding on each side: written on every IO by the thread that ends
    // the slot's IO, they must not share a cache line with the array's length (read by every IO's bounds check) nor
    // with whatever object the allocator put next to the shard, which another thread may write per IO.
    private const int PadLongs = 8;
    private static readonly string[] s_opNames = ["read", "write", "flush", "trim", "zero"];

    private readonly Lock _shardsLock = new();
    private readonly long _created = Stopwatch.GetTimestamp();
    private readonly int _sample;
    private long[]?[] _shards = [];

    public StatsFilter(FilterArguments arguments)
    {
        _sample = (int)arguments.GetInt64("sample", DefaultSample, 1, 1 << 20);
        if (!BitOperations.IsPow2(_sample))
        {
            throw new FormatException($"filter 'stats': sample={_sample} must be a power of two.");
        }
    }

    /// <inheritdoc/>
    public override string Name => "stats";

    /// <inheritdoc/>
    public override bool SupportsZoned => true;

    /// <inheritdoc/>
    public override string Parameters => _sample == DefaultSample ? string.Empty : string.Create(CultureInfo.InvariantCulture, $"sample={_sample}");

    /// <inheritdoc/>
    public int LatencySampleInterval => _sample;

    /// <inheritdoc/>
    public override StackedDiskOptions GetStackedMapping(Disk lower)
    {
        _shards = new long[]?[lower.TagSet.RequestCount];
        return new StackedDiskOptions { EndObserver = this };
    }

    /// <inheritdoc/>
    public void OnRequestEnded(in RequestEnd end)
    {
        int op = (int)end.Op;
        if (op >= Ops)
        {
            return;
        }

        long[] shard = _shards[end.Slot] ?? AddShard(end.Slot);
        ref long counters = ref shard[PadLongs + (op * OpLongs)];
        counters++;
        Unsafe.Add(ref counters, 1) += end.Bytes;
        if (end.Status != BlockStatus.Ok)
        {
            Unsafe.Add(ref counters, 2)++;
        }

        long ns = end.LatencyNanoseconds;
        if (ns >= 0)
        {
            int bucket = Math.Min(Buckets - 1, 64 - BitOperations.LeadingZeroCount((ulong)Math.Max(ns, 1)));
            Unsafe.Add(ref counters, 3 + bucket)++;
        }
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
            text.Append(_sample == 1 ? "  latency (ns, <= bucket): " : string.Create(CultureInfo.InvariantCulture, $"  latency (ns, <= bucket; 1 IO in {_sample} timed): "));
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

    /// <summary>Gets the number of failed IOs of <paramref name="op"/>.</summary>
    public long Errors(RequestOp op) => Sum()[((int)op * OpLongs) + 2];

    /// <summary>Gets the bytes of the completed IOs of <paramref name="op"/>.</summary>
    public long Bytes(RequestOp op) => Sum()[((int)op * OpLongs) + 1];

    /// <summary>Gets how many IOs of <paramref name="op"/> the latency histogram holds (the timed ones).</summary>
    public long Timed(RequestOp op)
    {
        long[] sums = Sum();
        long timed = 0;
        for (int b = 0; b < Buckets; b++)
        {
            timed += sums[((int)op * OpLongs) + 3 + b];
        }

        return timed;
    }

    // Once per slot, on its first IO: never again for that slot. The lock orders it against a report's reads.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private long[] AddShard(int slot)
    {
        var shard = new long[PadLongs + (Ops * OpLongs) + PadLongs];
        lock (_shardsLock)
        {
            _shards[slot] = shard;
        }

        return shard;
    }

    private long[] Sum()
    {
        var sums = new long[Ops * OpLongs];
        lock (_shardsLock)
        {
            foreach (long[]? shard in _shards)
            {
                if (shard is null)
                {
                    continue;
                }

                for (int i = 0; i < sums.Length; i++)
                {
                    sums[i] += Volatile.Read(ref shard[PadLongs + i]);
                }
            }
        }

        return sums;
    }
}
