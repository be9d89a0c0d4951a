using System.Runtime.CompilerServices;

namespace Blkmq;

/// <summary>
/// The block layer's clock for per-IO timestamps: request deadlines and statistics. Both need milliseconds
/// (deadlines are seconds long, <c>/sys/block/*/stat</c> counts milliseconds), so on the system clock it reads
/// the coarse monotonic clock (<see cref="Environment.TickCount64"/>, a few nanoseconds) instead of the precise
/// one (<see cref="TimeProvider.GetTimestamp"/>, tens of nanoseconds on virtual machines), the way Linux reads
/// jiffies for deadlines. A duration shorter than a tick then counts as zero or one tick with the right odds,
/// so sums of durations stay unbiased. An injected <see cref="TimeProvider"/> (tests) is read as it is.
/// </summary>
internal sealed class BlockClock
{
    private readonly TimeProvider? _provider;

    public BlockClock(TimeProvider provider)
    {
        _provider = ReferenceEquals(provider, TimeProvider.System) ? null : provider;
        Frequency = _provider?.TimestampFrequency ?? 1000;
    }

    /// <summary>Gets the number of ticks per second.</summary>
    public long Frequency { get; }

    /// <summary>Gets the current tick.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public long Now() => _provider is null ? Environment.TickCount64 : _provider.GetTimestamp();
}
