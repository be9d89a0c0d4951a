namespace Blkmq.Simulation.Tests.Infrastructure;

/// <summary>A timer of the simulated clock: each arming is one scheduler event, ignored if re-armed or disposed since.</summary>
internal sealed class SimTimer(SimScheduler scheduler, TimerCallback callback, object? state) : ITimer
{
    private long _version;
    private bool _disposed;

    public bool Change(TimeSpan dueTime, TimeSpan period)
    {
        if (_disposed)
        {
            return false;
        }

        long version = ++_version;
        if (dueTime != Timeout.InfiniteTimeSpan)
        {
            Arm(version, dueTime.Ticks * 100, period);
        }

        return true;
    }

    public void Dispose() => _disposed = true;

    public ValueTask DisposeAsync()
    {
        _disposed = true;
        return ValueTask.CompletedTask;
    }

    private void Arm(long version, long dueNanoseconds, TimeSpan period)
    {
        scheduler.At(scheduler.Now + dueNanoseconds, () => Fire(version, period), "timer");
    }

    private void Fire(long version, TimeSpan period)
    {
        if (_disposed || version != _version)
        {
            return;
        }

        if (period != Timeout.InfiniteTimeSpan && period > TimeSpan.Zero)
        {
            Arm(version, period.Ticks * 100, period);
        }

        callback(state);
    }
}
