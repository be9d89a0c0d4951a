using System.Runtime.CompilerServices;

namespace Blkmq;

/// <summary>
/// Accumulates a disk's statistics without a shared atomic per IO: every request slot has its own shard
/// (a cache line pair), written with plain stores by the one thread that ends that slot's IO, which owns the slot
/// exclusively at that moment. A snapshot sums the shards; it may be a few IOs behind, never torn (64-bit fields).
/// Busy time follows Linux' <c>update_io_ticks</c>: one compare-and-swap per millisecond, not per IO.
/// </summary>
internal sealed class DiskStatistics
{
    // Per shard: 4 groups (read, write, discard, flush) x 4 counters (ios, merges, sectors, ticks) = 16 longs.
    private const int ShardLongs = 16;
    private const int GroupRead = 0;
    private const int GroupWrite = 1;
    private const int GroupDiscard = 2;
    private const int GroupFlush = 3;

    private readonly long[] _shards;
    private readonly long _ticksPerMillisecond;
    private readonly bool _enabled;
    private long _stampMs;
    private long _ioTicksMs;

    public DiskStatistics(int slotCount, long timestampFrequency, bool enabled)
    {
        _shards = new long[slotCount * ShardLongs];
        _ticksPerMillisecond = Math.Max(1, timestampFrequency / 1000);
        _enabled = enabled;
    }

    public bool Enabled => _enabled;

    /// <summary>Called when an IO starts: advances the busy-time stamp without counting an idle gap.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void OnStart(long timestamp)
    {
        long nowMs = timestamp / _ticksPerMillisecond;
        long stamp = Volatile.Read(ref _stampMs);
        if (nowMs != stamp)
        {
            Interlocked.CompareExchange(ref _stampMs, nowMs, stamp);
        }
    }

    /// <summary>Accounts one ended IO. The caller owns <paramref name="slot"/> exclusively.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Account(RequestSlot slot, long timestamp)
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
        ref long counters = ref _shards[(slot.Index * ShardLongs) + (group * 4)];
        Unsafe.Add(ref counters, 0)++;
        Unsafe.Add(ref counters, 1) += slot._mergeCount;
        Unsafe.Add(ref counters, 2) += slot._bytes >> 9;
        Unsafe.Add(ref counters, 3) += timestamp - slot._startTimestamp;

        long nowMs = timestamp / _ticksPerMillisecond;
        long stamp = Volatile.Read(ref _stampMs);
        if (nowMs > stamp && Interlocked.CompareExchange(ref _stampMs, nowMs, stamp) == stamp)
        {
            Interlocked.Add(ref _ioTicksMs, nowMs - stamp);
        }
    }

    public DiskStats Snapshot(long inFlight)
    {
        Span<long> sums = stackalloc long[ShardLongs];
        for (int i = 0; i < _shards.Length; i += ShardLongs)
        {
            for (int j = 0; j < ShardLongs; j++)
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
        };
    }
}
