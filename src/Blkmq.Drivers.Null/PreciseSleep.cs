using System.Diagnostics;
using Blkmq.Drivers.Null.Interop;

namespace Blkmq.Drivers.Null;

/// <summary>
/// Sleeps until a <see cref="Stopwatch"/> timestamp with microsecond accuracy and without spinning: on Linux an
/// absolute <c>clock_nanosleep</c> on the monotonic clock (the clock <see cref="Stopwatch"/> reads there) with the
/// thread's timer slack lowered to 1 ns; elsewhere a millisecond sleep followed by yielding.
/// </summary>
internal static class PreciseSleep
{
    /// <summary>How long before the deadline the kernel sleep ends; the remainder is spun.</summary>
    public const long WakeEarlyNanoseconds = 20_000;

    private static readonly bool s_useNanosleep = OperatingSystem.IsLinux() && Stopwatch.Frequency == 1_000_000_000;

    /// <summary>Lowers this thread's timer slack so that sleeps wake on time (Linux default slack is 50 µs).</summary>
    public static void TuneCurrentThread()
    {
        if (s_useNanosleep)
        {
            _ = Libc.Prctl(Libc.PrSetTimerSlack, 1, 0, 0, 0);
        }
    }

    /// <summary>
    /// Sleeps until <paramref name="timestamp"/>: the kernel sleep ends <see cref="WakeEarlyNanoseconds"/> early
    /// (a virtual machine's wake-up latency is tens of microseconds), and the rest is a short spin, so the timer
    /// is on time at the cost of a few microseconds of CPU per wake-up, not a core.
    /// </summary>
    public static void Until(long timestamp)
    {
        if (s_useNanosleep)
        {
            long wake = timestamp - WakeEarlyNanoseconds;
            if (wake > Stopwatch.GetTimestamp())
            {
                var request = new Libc.TimeSpec { Seconds = wake / 1_000_000_000, Nanoseconds = wake % 1_000_000_000 };
                _ = Libc.ClockNanosleep(Libc.ClockMonotonic, Libc.TimerAbsoluteTime, in request, 0);
            }

            while (Stopwatch.GetTimestamp() < timestamp)
            {
                Thread.SpinWait(8);
            }

            return;
        }

        long remaining = timestamp - Stopwatch.GetTimestamp();
        if (remaining > Stopwatch.Frequency / 500)
        {
            Thread.Sleep(TimeSpan.FromTicks(remaining * TimeSpan.TicksPerSecond / Stopwatch.Frequency) - TimeSpan.FromMilliseconds(1));
        }

        while (Stopwatch.GetTimestamp() < timestamp)
        {
            Thread.Yield();
        }
    }
}
