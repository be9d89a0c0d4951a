using System.Runtime.CompilerServices;
using Blkmq.Metrics;

namespace Blkmq;

/// <summary>
/// Accumulates a disk's statistics without a shared atomic per IO: every request slot has its own shard (cache
/// lines of its own), written with plain stores by the one thread that ends that slot's IO, which owns the slot
/// exclusively at that moment. A snapshot sums the shards; it may be a few IOs behind, never torn (64-bit fields).
/// Busy time follows Linux' <c>update_io_ticks</c>: one compare-and-swap per millisecond, not per IO.
/// <para>
/// Metrics (<see cref="DiskMetrics"/>) read these counters when a listener collects, so they add nothing per IO. The
/// one exception is the latency histogram <c>blkmq.request.duration</c>: only while a listener has it enabled does an
/// IO take a precise start stamp and record its duration, and by default only a sample of IOs (the first to start in
/// each tick of the coarse clock: one compare-and-swap per tick, like busy time); otherwise the cost is one flag read.
/// </para>
/// </summary>
internal sealed class DiskStatistics
{
    // Per shard: 4 groups (read, write, discard, flush) x 4 counters (ios, merges, sectors, ticks) = 16 longs, then
    // 4 error counts (one per group), then the write zeroes among the writes (ios, sectors, errors): 184 bytes, placed
    // 64 bytes into a 256-byte shard. The array is only 8-byte
    // aligned, so the gap of 72 bytes between two shards' counters is what keeps them off a common cache line
    // whatever the array's address: two slots ended at once by two threads never write the same line, and the
    // array's length (read by every IO's bounds check) never shares a line with slot 0's counters. 24-long shards
    // with no lead did, in some runs and not others (an allocation-dependent 30% loss with two jobs).
    private const int ShardLongs = 32;
    private const int ShardLead = 8;
    private const int CountedLongs = 23;
    private const int ErrorOffset = 16;
    private const int ZeroOffset = 20;
    private const int GroupRead = 0;
    private const int GroupWrite = 1;
    private const int GroupDiscard = 2;
    private const int GroupFlush = 3;

    private readonly long[] _shards;
    private readonly long _ticksPerMillisecond;
    private readonly bool _enabled;
    private readonly TimeProvider _time;
    private readonly KeyValuePair<string, object?> _diskTag;
    private readonly bool _recordEveryIo;
    private long _stampMs;
    private long _sampledMs;
    private long _ioTicksMs;

    public DiskStatistics(int slotCount, long timestampFrequency, bool enabled)
        : this(slotCount, timestampFrequency, enabled, TimeProvider.System, string.Empty, LatencySampling.Sampled)
    {
    }

    /// <param name="slotCount">Request slots of the tag set: one shard each.</param>
    /// <param name="timestampFrequency">Ticks per second of the block layer's clock.</param>
    /// <param name="enabled">Whether IOs are counted at all (<see cref="DiskOptions.IoStatistics"/>).</param>
    /// <param name="time">The precise clock of the latency histogram.</param>
    /// <param name="diskName">The disk's name, the histogram's <c>disk</c> tag.</param>
    /// <param name="sampling">Which IOs the latency histogram records.</param>
    public DiskStatistics(int slotCount, long timestampFrequency, bool enabled, TimeProvider time, string diskName, LatencySampling sampling)
    {
        _recordEveryIo = sampling == LatencySampling.Every;
        _shards = new long[slotCount * ShardLongs];
        _ticksPerMillisecond = Math.Max(1, timestampFrequency / 1000);
        _enabled = enabled;
        _time = time;
        _diskTag = new KeyValuePair<string, object?>(DiskMetrics.DiskTag, diskName);
    }

    public bool Enabled => _enabled;

    /// <summary>
    /// Called when an IO starts: advances the busy-time stamp without counting an idle gap, and gives the slot a
    /// precise start stamp when the latency histogram has a listener and records this IO (zero otherwise: the slot is
    /// reused).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void OnStart(RequestSlot slot, long timestamp)
    {
        long nowMs = ToMilliseconds(timestamp);
        slot._durationStart = _enabled && DiskMetrics.RequestDuration.Enabled && (_recordEveryIo || IsSampled(nowMs))
            ? _time.GetTimestamp()
            : 0;
        AdvanceStamp(nowMs);
    }

    /// <summary>Advances the busy-time stamp without counting an idle gap.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void OnStart(long timestamp) => AdvanceStamp(ToMilliseconds(timestamp));

    // The default clock already counts milliseconds: no 64-bit division (tens of cycles) twice per IO and disk.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private long ToMilliseconds(long timestamp) => _ticksPerMillisecond == 1 ? timestamp : timestamp / _ticksPerMillisecond;

    // The first IO to start in a new tick of the coarse clock is the sample: the others of that tick see the stamp
    // already moved and pay one read of a line that changes once per tick.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool IsSampled(long nowMs)
    {
        long sampled = Volatile.Read(ref _sampledMs);
        return nowMs != sampled && Interlocked.CompareExchange(ref _sampledMs, nowMs, sampled) == sampled;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void AdvanceStamp(long nowMs)
    {
        long stamp = Volatile.Read(ref _stampMs);
        if (nowMs != stamp)
        {
            Interlocked.CompareExchange(ref _stampMs, nowMs, stamp);
        }
    }

    /// <summary>Accounts one ended IO and its status. The caller owns <paramref name="slot"/> exclusively.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Account(RequestSlot slot, BlockStatus status, long timestamp)
    {
        if (!_enabled)
        {
            return;
        }

        int group = slot._op switch
        {
            RequestOp.Read => GroupRead,
            RequestOp.Discard => GroupDiscard,
            RequestOp.Flush => GroupFlush,
            _ => GroupWrite,
        };
        ref long shard = ref _shards[(slot.Index * ShardLongs) + ShardLead];
        ref long counters = ref Unsafe.Add(ref shard, group * 4);
        Unsafe.Add(ref counters, 0)++;
        Unsafe.Add(ref counters, 1) += slot._mergeCount;
        Unsafe.Add(ref counters, 2) += slot._bytes >> 9;
        Unsafe.Add(ref counters, 3) += timestamp - slot._startTimestamp;
        if (status != BlockStatus.Ok)
        {
            Unsafe.Add(ref shard, ErrorOffset + group)++;
        }

        if (slot._op == RequestOp.WriteZeroes)
        {
            AccountZeroes(ref shard, slot._bytes, status);
        }

        if (slot._durationStart != 0)
        {
            RecordDuration(slot._durationStart, group);
        }

        long nowMs = ToMilliseconds(timestamp);
        long stamp = Volatile.Read(ref _stampMs);
        if (nowMs > stamp && Interlocked.CompareExchange(ref _stampMs, nowMs, stamp) == stamp)
        {
            Interlocked.Add(ref _ioTicksMs, nowMs - stamp);
        }
    }

    // Write zeroes are writes (Linux counts them so) and counted apart as well, for the stats filter's report.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void AccountZeroes(ref long shard, int bytes, BlockStatus status)
    {
        Unsafe.Add(ref shard, ZeroOffset)++;
        Unsafe.Add(ref shard, ZeroOffset + 1) += bytes >> 9;
        if (status != BlockStatus.Ok)
        {
            Unsafe.Add(ref shard, ZeroOffset + 2)++;
        }
    }

    // Out of line: only IOs started while a listener had the histogram enabled come here.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void RecordDuration(long start, int group)
    {
        double seconds = (double)(_time.GetTimestamp() - start) / _time.TimestampFrequency;
        DiskMetrics.RequestDuration.Record(seconds, _diskTag, DiskMetrics.OpTags[group]);
    }

    public DiskStats Snapshot(long inFlight)
    {
        Span<long> sums = stackalloc long[CountedLongs];
        for (int i = ShardLead; i < _shards.Length; i += ShardLongs)
        {
            for (int j = 0; j < CountedLongs; j++)
            {
                sums[j] += Volatile.Read(ref _shards[i + j]);
            }
        }

        long Ms(long ticks) => ticks / _ticksPerMillisecond;
        return new DiskStats
        {
            ReadIos = sums[0],
            ReadMerges = sums[1],
            ReadSectors = sums[2],
            ReadTicks = Ms(sums[3]),
            WriteIos = sums[4],
            WriteMerges = sums[5],
            WriteSectors = sums[6],
            WriteTicks = Ms(sums[7]),
            DiscardIos = sums[8],
            DiscardMerges = sums[9],
            DiscardSectors = sums[10],
            DiscardTicks = Ms(sums[11]),
            FlushIos = sums[12],
            FlushTicks = Ms(sums[15]),
            InFlight = inFlight,
            IoTicks = Volatile.Read(ref _ioTicksMs),
            TimeInQueue = Ms(sums[3] + sums[7] + sums[11] + sums[15]),
            ReadErrors = sums[ErrorOffset + GroupRead],
            WriteErrors = sums[ErrorOffset + GroupWrite],
            DiscardErrors = sums[ErrorOffset + GroupDiscard],
            FlushErrors = sums[ErrorOffset + GroupFlush],
            WriteZeroesIos = sums[ZeroOffset],
            WriteZeroesSectors = sums[ZeroOffset + 1],
            WriteZeroesErrors = sums[ZeroOffset + 2],
        };
    }
}
