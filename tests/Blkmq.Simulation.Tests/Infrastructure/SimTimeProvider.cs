namespace Blkmq.Simulation.Tests.Infrastructure;

/// <summary>The simulator's clock as a <see cref="TimeProvider"/>: virtual nanoseconds, timers as scheduler events.</summary>
internal sealed class SimTimeProvider(SimScheduler scheduler) : TimeProvider
{
    private static readonly DateTimeOffset s_epoch = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public override long TimestampFrequency => 1_000_000_000;

    public override long GetTimestamp() => scheduler.Now;

    public override DateTimeOffset GetUtcNow() => s_epoch.AddTicks(scheduler.Now / 100);

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new SimTimer(scheduler, callback, state);
        timer.Change(dueTime, period);
        return timer;
    }
}
