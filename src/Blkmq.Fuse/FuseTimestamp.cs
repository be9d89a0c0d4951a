using System.Runtime.InteropServices;

namespace Blkmq.Fuse;

/// <summary>A time as <c>fuse_attr</c> carries it: seconds and nanoseconds since the Unix epoch.</summary>
[StructLayout(LayoutKind.Auto)]
internal readonly record struct FuseTimestamp(ulong Seconds, uint Nanoseconds)
{
    public static FuseTimestamp Now()
    {
        long nanoseconds = (DateTimeOffset.UtcNow - DateTimeOffset.UnixEpoch).Ticks * 100;
        return new FuseTimestamp((ulong)(nanoseconds / 1_000_000_000), (uint)(nanoseconds % 1_000_000_000));
    }

    /// <summary>This time less <paramref name="milliseconds"/> (not before the epoch).</summary>
    public FuseTimestamp MinusMilliseconds(long milliseconds)
    {
        long nanoseconds = Math.Max(0, ((long)Seconds * 1_000_000_000) + Nanoseconds - (Math.Max(0, milliseconds) * 1_000_000));
        return new FuseTimestamp((ulong)(nanoseconds / 1_000_000_000), (uint)(nanoseconds % 1_000_000_000));
    }

    /// <summary>Gets whether this time is later than <paramref name="other"/>.</summary>
    public bool IsAfter(FuseTimestamp other) => Seconds != other.Seconds ? Seconds > other.Seconds : Nanoseconds > other.Nanoseconds;
}
