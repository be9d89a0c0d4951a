using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Text;

namespace Blkmq.Filters;

/// <summary>
/// Counts IO per operation (requests, bytes, errors) and keeps a latency histogram per operation in powers of two of
/// nanoseconds, measured from the submission below to its end (nbdkit's stats filter). Reported on exit and by
/// <c>blkmq ctl filters EXPORT</c>. Bio-based: its disk is a <see cref="StackedDisk"/> and this filter the disk's end observer.
/// </summary>
/// <remarks>
/// Counting costs this filter nothing of its own: every disk keeps per-slot statistics of every IO (as Linux keeps
/// <c>/sys/block/DEV/stat</c>), and the report reads its own disk's, where write zeroes are counted apart as well.
/// What it adds is the latency histogram, fed by the end observer for the IOs the stack times with the precise clock:
/// one in <c>sample</c> per request slot (default 64; <c>sample=1</c> times every IO), since a precise clock read costs
/// tens of nanoseconds on virtual machines, more than the rest of the filter (dm-stats makes precise timestamps an
/// option likewise). No shared atomic per timed IO either: each request slot of the tag set below has its own
/// histogram shard, written with plain stores by the one thread that accounts that slot's IO
/// (<see cref="IRequestEndObserver"/>: calls for one slot never overlap and are ordered). A report sums the shards
/// with 64-bit reads: it may be a few IOs behind, never torn.
/// </remarks>
internal sealed class StatsFilter : BlockFilter, IRequestEndObserver
{
    /// <summary>One IO in this many per slot is timed unless <c>sample=</c> says otherwise.</summary>
    public const int DefaultSample = 64;

    private const int Ops = 5;
    private const int Buckets = 40;

    // A shard's histograms sit between 64 bytes of padding on each side: written by the thread that ends the slot's
    // timed IO, they must not share a cache line with the array's length (read by every bounds check) nor with
    // whatever object the allocator put next to the shard, which another thread may write per IO.
    private const int PadLongs = 8;
    private static readonly string[] s_opNames = ["read", "write", "flush", "trim", "zero"];

    private readonly Lock _shardsLock = new();
    private readonly long _created = Stopwatch.GetTimestamp();
    private readonly int _sample;
    private long[]?[] _shards = [];
    private Disk? _disk;

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
    public override DiskOptions Shape(Disk lower, string name) => PassThroughShape(lower, name) with { IoStatistics = true };

    /// <inheritdoc/>
    public override StackedDiskOptions GetStackedMapping(Disk lower)
    {
        _shards = new long[]?[lower.TagSet.RequestCount];
        return new StackedDiskOptions { EndObserver = this };
    }

    /// <inheritdoc/>
    public override void OnAttached(Disk disk) => _disk = disk;

    /// <inheritdoc/>
    public void OnRequestEnded(in RequestEnd end)
    {
        int op = (int)end.Op;
        if (op >= Ops)
        {
            return;
        }

        long[] shard = _shards[end.Slot] ?? AddShard(end.Slot);
        int bucket = Math.Min(Buckets - 1, 64 - BitOperations.LeadingZeroCount((ulong)Math.Max(end.LatencyNanoseconds, 1)));
        shard[PadLongs + (op * Buckets) + bucket]++;
    }

    /// <inheritdoc/>
    public override string Report()
    {
        double seconds = Stopwatch.GetElapsedTime(_created).TotalSeconds;
        Counters counters = Counters.Of(_disk);
        long[] histograms = SumHistograms();
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"stats: elapsed {seconds:F3} s\n");
        for (int op = 0; op < Ops; op++)
        {
            long count = counters.Count(op);
            if (count == 0)
            {
                continue;
            }

            long bytes = counters.Bytes(op);
            text.Append(CultureInfo.InvariantCulture, $"{s_opNames[op]}: {count} ops, {bytes} bytes, {counters.Errors(op)} errors, {count / Math.Max(seconds, 1e-9):F1} ops/s, {bytes / Math.Max(seconds, 1e-9) / 1048576:F2} MiB/s\n");
            text.Append(_sample == 1 ? "  latency (ns, <= bucket): " : string.Create(CultureInfo.InvariantCulture, $"  latency (ns, <= bucket; 1 IO in {_sample} timed): "));
            for (int b = 0; b < Buckets; b++)
            {
                long n = histograms[(op * Buckets) + b];
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
    public long Count(RequestOp op) => Counters.Of(_disk).Count((int)op);

    /// <summary>Gets the number of failed IOs of <paramref name="op"/>.</summary>
    public long Errors(RequestOp op) => Counters.Of(_disk).Errors((int)op);

    /// <summary>Gets the bytes of the completed IOs of <paramref name="op"/>.</summary>
    public long Bytes(RequestOp op) => Counters.Of(_disk).Bytes((int)op);

    /// <summary>Gets how many IOs of <paramref name="op"/> the latency histogram holds (the timed ones).</summary>
    public long Timed(RequestOp op)
    {
        long[] histograms = SumHistograms();
        long timed = 0;
        for (int b = 0; b < Buckets; b++)
        {
            timed += histograms[((int)op * Buckets) + b];
        }

        return timed;
    }

    // Once per slot, on its first timed IO: never again for that slot. The lock orders it against a report's reads.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private long[] AddShard(int slot)
    {
        var shard = new long[PadLongs + (Ops * Buckets) + PadLongs];
        lock (_shardsLock)
        {
            _shards[slot] = shard;
        }

        return shard;
    }

    private long[] SumHistograms()
    {
        var sums = new long[Ops * Buckets];
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

    /// <summary>The disk's statistics as the report's five operations: write zeroes apart from the other writes.</summary>
    private readonly struct Counters
    {
        private readonly DiskStats _stats;

        private Counters(DiskStats stats) => _stats = stats;

        public static Counters Of(Disk? disk) => new(disk?.GetStatistics() ?? new DiskStats());

        public long Count(int op) => Get(op).Count;

        public long Bytes(int op) => Get(op).Bytes;

        public long Errors(int op) => Get(op).Errors;

        private (long Count, long Bytes, long Errors) Get(int op)
        {
            DiskStats s = _stats;
            return op switch
            {
                0 => (s.ReadIos, s.ReadSectors << 9, s.ReadErrors),
                1 => (s.WriteIos - s.WriteZeroesIos, (s.WriteSectors - s.WriteZeroesSectors) << 9, s.WriteErrors - s.WriteZeroesErrors),
                2 => (s.FlushIos, 0, s.FlushErrors),
                3 => (s.DiscardIos, s.DiscardSectors << 9, s.DiscardErrors),
                4 => (s.WriteZeroesIos, s.WriteZeroesSectors << 9, s.WriteZeroesErrors),
                _ => (0, 0, 0),
            };
        }
    }
}
