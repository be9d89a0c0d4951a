using System.Diagnostics;
using Blkmq.Drivers.Null.Interop;

namespace Blkmq.Drivers.Null;

/// <summary>
/// Sleeps until a <see cref="Stopwatch"/> timestamp with microsecond accuracy and little spinning: on Linux an
/// absolute <c>clock_nanosleep</c> on the monotonic clock (the clock <see cref="Stopwatch"/> reads there) with the
/// thread's timer slack lowered to 1 ns, ending early by as much as this machine's kernel has been waking late,
/// and a short spin for the rest; elsewhere a millisecond sleep followed by yielding.
/// </summary>
/// <remarks>
/// How late a kernel sleep ends depends on the machine: a few microseconds on bare metal, 20–70 µs on a virtual
/// machine whose idle vCPU the host must wake. A fixed margin either spins for nothing or is late, so each sleeper
/// learns its own: it tracks the smoothed lateness of its sleeps and its mean deviation (the estimator TCP uses for
/// round-trip times) and wakes <c>mean + 2 × deviation</c> before the deadline. One instance belongs to one
/// thread; it is not thread-safe.
/// </remarks>
internal sealed class PreciseSleep
{
    /// <summary>The smallest margin: below it, the spin costs less than measuring more precisely would.</summary>
    public const long MinimumMarginNanoseconds = 2_000;

    /// <summary>The largest margin: a machine that wakes later than this has no accurate timer to offer.</summary>
    public const long MaximumMarginNanoseconds = 200_000;

    private static readonly bool s_useNanosleep = OperatingSystem.IsLinux() && Stopwatch.Frequency == 1_000_000_000;

    // Smoothed lateness and its mean deviation in nanoseconds, scaled by 8 and 4 like TCP's srtt and rttvar.
    private long _lateness8 = 20_000 * 8;
    private long _deviation4 = 5_000 * 4;

    /// <summary>Gets how long before a deadline the kernel sleep currently ends, in nanoseconds.</summary>
    public long MarginNanoseconds => Math.Clamp((_lateness8 >> 3) + (2 * (_deviation4 >> 2)), MinimumMarginNanoseconds, MaximumMarginNanoseconds);

    /// <summary>Lowers this thread's timer slack so that sleeps wake on time (Linux default slack is 50 µs).</summary>
    public static void TuneCurrentThread()
    {
        if (s_useNanosleep)
        {
            _ = Libc.Prctl(Libc.PrSetTimerSlack, 1, 0, 0, 0);
        }
    }

    /// <summary>
    /// Sleeps until <paramref name="timestamp"/>: the kernel sleep ends <see cref="MarginNanoseconds"/> early, and
    /// the rest is a short spin, so the timer is on time at the cost of a few microseconds of CPU per wake-up, not
    /// a core.
    /// </summary>
    public void Until(long timestamp)
    {
        if (s_useNanosleep)
        {
            long wake = timestamp - MarginNanoseconds;
            if (wake > Stopwatch.GetTimestamp())
            {
                var request = new Libc.TimeSpec { Seconds = wake / 1_000_000_000, Nanoseconds = wake % 1_000_000_000 };
                _ = Libc.ClockNanosleep(Libc.ClockMonotonic, Libc.TimerAbsoluteTime, in request, 0);
                Learn(Stopwatch.GetTimestamp() - wake);
            }
            else
            {
                Forget();
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

    /// <summary>
    /// Shrinks the estimate when a wait was spun whole because the margin covered it: otherwise one bad estimate
    /// would stop all sleeping, and with it all learning.
    /// </summary>
    internal void Forget()
    {
        _lateness8 -= _lateness8 >> 3;
        _deviation4 -= _deviation4 >> 2;
    }

    /// <summary>Folds one observed lateness into the estimate (Jacobson's algorithm, gains 1/8 and 1/4).</summary>
    internal void Learn(long lateness)
    {
        // A sleep interrupted by a signal ends early; a preempted thread is late by a whole time slice. Neither
        // says much about the timer: an outlier counts only as far as four deviations from the mean.
        lateness = Math.Clamp(lateness, 0, (_lateness8 >> 3) + _deviation4);
        long error = lateness - (_lateness8 >> 3);
        _lateness8 += error;
        _deviation4 += Math.Abs(error) - (_deviation4 >> 2);
    }
}
