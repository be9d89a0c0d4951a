using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Blkmq.Filters;

/// <summary>
/// Holds IOs until a time (delay, rate, flakey's pauses) on one thread, then hands each to its filter's
/// <see cref="BlockFilter.OnTimer"/>. A priority queue under one lock, created with room for a full queue depth, so
/// parking an IO allocates nothing once it has grown. The thread sleeps on a Linux <c>timerfd</c> armed for the
/// earliest deadline (nanosecond resolution, no timer slack: a 1 ms delay is 1 ms, not "at least the next
/// millisecond tick" as a millisecond wait rounds it); a new earlier deadline re-arms it. Elsewhere it waits on an
/// event with a millisecond timeout.
/// </summary>
internal sealed partial class FilterTimer : IDisposable
{
    private const int ClockMonotonic = 1;
    private const int TimerFdCloexec = 0x80000;
    private const int EINTR = 4;
    private const int EAGAIN = 11;

    private readonly Lock _lock = new();
    private readonly PriorityQueue<FilterIo, long> _queue = new(256);
    private readonly Thread _thread;
    private readonly int _timerFd;
    private readonly AutoResetEvent? _wake;

    // The deadline the timer is armed for (long.MaxValue: none); under _lock. The thread forgets it on every wake-up,
    // so it always re-arms for the earliest deadline before it sleeps again.
    private long _armedFor = long.MaxValue;
    private bool _releasing;
    private bool _stopping;

    public FilterTimer(string name)
    {
        _timerFd = OperatingSystem.IsLinux() ? TimerFdCreate(ClockMonotonic, TimerFdCloexec) : -1;
        if (_timerFd < 0)
        {
            _wake = new AutoResetEvent(false);
        }

        _thread = new Thread(Run) { IsBackground = true, Name = name };
        _thread.Start();
    }

    /// <summary>Parks <paramref name="io"/> until <paramref name="dueTimestamp"/> (a <see cref="Stopwatch"/> timestamp).</summary>
    /// <param name="io">The IO, still owned by the filter.</param>
    /// <param name="dueTimestamp">When to hand it back.</param>
    public void Schedule(FilterIo io, long dueTimestamp)
    {
        lock (_lock)
        {
            _queue.Enqueue(io, dueTimestamp);
            if (dueTimestamp < _armedFor)
            {
                ArmLocked(dueTimestamp);
            }
        }
    }

    /// <summary>
    /// From now on every IO is due at once: those parked and those parked later are handed back without waiting (the
    /// disk is being removed, as dm-delay flushes its delayed bios at presuspend).
    /// </summary>
    public void Release()
    {
        lock (_lock)
        {
            _releasing = true;
            ArmLocked(0);
        }
    }

    /// <summary>Stops the thread; IOs still parked are handed to their filters at once.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            _releasing = true;
            _stopping = true;
            ArmLocked(0);
        }

        _thread.Join();
        if (_timerFd >= 0)
        {
            _ = Close(_timerFd);
        }

        _wake?.Dispose();
    }

    // Under _lock, so that the thread's arming and a submitter's never cross: the last one armed is the earliest.
    private void ArmLocked(long dueTimestamp)
    {
        _armedFor = dueTimestamp;
        if (_timerFd < 0)
        {
            _wake!.Set();
            return;
        }

        long nanoseconds = Math.Max(1, (long)((dueTimestamp - Stopwatch.GetTimestamp()) * (1e9 / Stopwatch.Frequency)));
        var spec = new TimerSpec { ValueSeconds = nanoseconds / 1_000_000_000, ValueNanoseconds = nanoseconds % 1_000_000_000 };
        if (TimerFdSetTime(_timerFd, 0, in spec, 0) != 0)
        {
            throw new InvalidOperationException($"timerfd_settime failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    private void Run()
    {
        while (true)
        {
            FilterIo? due = null;
            int waitMs = Timeout.Infinite;
            lock (_lock)
            {
                _armedFor = long.MaxValue;
                if (_queue.TryPeek(out _, out long when))
                {
                    long now = Stopwatch.GetTimestamp();
                    if (when <= now || _releasing)
                    {
                        due = _queue.Dequeue();
                    }
                    else if (_timerFd >= 0)
                    {
                        ArmLocked(when);
                    }
                    else
                    {
                        waitMs = (int)Math.Clamp(Stopwatch.GetElapsedTime(now, when).TotalMilliseconds + 0.5, 1, 1000);
                    }
                }
                else if (_stopping)
                {
                    return;
                }
            }

            if (due is not null)
            {
                due.Disk.Filter.OnTimer(due);
                continue;
            }

            if (_timerFd >= 0)
            {
                WaitForExpiry();
            }
            else
            {
                _wake!.WaitOne(waitMs);
            }
        }
    }

    // Blocks until the timer expires (an unarmed timer blocks until a submitter or Dispose arms it).
    private unsafe void WaitForExpiry()
    {
        ulong expirations;
        while (Read(_timerFd, &expirations, sizeof(ulong)) < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno != EINTR && errno != EAGAIN)
            {
                throw new InvalidOperationException($"read of a timerfd failed: errno {errno}");
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "timerfd_create", SetLastError = true)]
    private static partial int TimerFdCreate(int clockId, int flags);

    [LibraryImport("libc", EntryPoint = "timerfd_settime", SetLastError = true)]
    private static partial int TimerFdSetTime(int fd, int flags, in TimerSpec newValue, nint oldValue);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static unsafe partial nint Read(int fd, void* buffer, nint count);

    [LibraryImport("libc", EntryPoint = "close")]
    private static partial int Close(int fd);

    /// <summary><c>struct itimerspec</c>: no interval, one expiry.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct TimerSpec
    {
        public long IntervalSeconds;
        public long IntervalNanoseconds;
        public long ValueSeconds;
        public long ValueNanoseconds;
    }
}
