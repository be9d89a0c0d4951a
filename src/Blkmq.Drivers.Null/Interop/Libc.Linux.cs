using System.Runtime.InteropServices;

namespace Blkmq.Drivers.Null.Interop;

/// <summary>The few libc calls the null driver needs on Linux: its timer's sleep and the memory store's slabs.</summary>
internal static partial class Libc
{
    public const int ClockMonotonic = 1;
    public const int TimerAbsoluteTime = 1;
    public const int PrSetTimerSlack = 29;

    /// <summary><c>MADV_POPULATE_WRITE</c> (Linux 5.14): fault a range in writable, as writes would, in one call.</summary>
    public const int MadvPopulateWrite = 23;

    public const int ProtReadWrite = 0x1 | 0x2;
    public const int MapPrivateAnonymous = 0x02 | 0x20;

    /// <summary>The page size that <c>madvise</c> ranges align to on every Linux target we run on.</summary>
    public const int PageSize = 4096;

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

    /// <summary><c>int madvise(void *addr, size_t length, int advice)</c>; <paramref name="address"/> page-aligned.</summary>
    [LibraryImport("libc", EntryPoint = "madvise")]
    public static partial int Madvise(nint address, nuint length, int advice);

    /// <summary><c>void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset)</c>; -1 on failure.</summary>
    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    public static partial nint Mmap(nint address, nuint length, int protection, int flags, int fd, nint offset);

    /// <summary><c>int munmap(void *addr, size_t length)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "munmap")]
    public static partial int Munmap(nint address, nuint length);
}
