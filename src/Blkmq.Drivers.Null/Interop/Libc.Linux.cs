using System.Runtime.InteropServices;

namespace Blkmq.Drivers.Null.Interop;

/// <summary>The few libc calls the null driver's timer needs on Linux.</summary>
internal static partial class Libc
{
    public const int ClockMonotonic = 1;
    public const int TimerAbsoluteTime = 1;
    public const int PrSetTimerSlack = 29;

    /// <summary>Mirrors <c>struct timespec</c> on 64-bit Linux: <c>time_t tv_sec; long tv_nsec;</c>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    /// <summary><c>int clock_nanosleep(clockid_t, int flags, const struct timespec *request, struct timespec *remain)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "clock_nanosleep")]
    public static partial int ClockNanosleep(int clockId, int flags, in TimeSpec request, nint remain);

    /// <summary><c>int prctl(int option, unsigned long arg2, ...)</c>, used for <c>PR_SET_TIMERSLACK</c>.</summary>
    [LibraryImport("libc", EntryPoint = "prctl")]
    public static partial int Prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);
}
