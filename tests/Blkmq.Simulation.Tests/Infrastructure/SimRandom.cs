namespace Blkmq.Simulation.Tests.Infrastructure;

/// <summary>
/// The simulator's only source of randomness: SplitMix64, written out here so that a seed means the same run on
/// every runtime version (System.Random's algorithm is not part of its contract).
/// </summary>
internal sealed class SimRandom
{
    private ulong _state;

    public SimRandom(ulong seed) => _state = seed;

    public ulong NextUInt64()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>A value in [0, <paramref name="max"/>).</summary>
    public int Next(int max) => max <= 1 ? 0 : (int)(NextUInt64() % (ulong)max);

    /// <summary>A value in [<paramref name="min"/>, <paramref name="max"/>).</summary>
    public long Next(long min, long max) => max - min <= 1 ? min : min + (long)(NextUInt64() % (ulong)(max - min));

    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>True with probability <paramref name="p"/>; draws nothing when <paramref name="p"/> is zero, so a fault turned off leaves the run unchanged.</summary>
    public bool Chance(double p) => p > 0 && NextDouble() < p;

    /// <summary>A new generator for a sub-stream (the disk's media, the workload), so one's draws do not shift the other's.</summary>
    public SimRandom Fork() => new(NextUInt64());
}
