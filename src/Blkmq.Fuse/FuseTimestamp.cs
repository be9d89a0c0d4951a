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
}
