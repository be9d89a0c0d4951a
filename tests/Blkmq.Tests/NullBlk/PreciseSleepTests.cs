using System.Diagnostics;
using Blkmq.Drivers.Null;

namespace Blkmq.Tests.NullBlk;

/// <summary>The timer's sleep learns how late the kernel wakes it, ignores outliers and never stops sleeping.</summary>
public sealed class PreciseSleepTests
{
    [Fact]
    public void MarginConvergesOnASteadyLateness()
    {
        var sleep = new PreciseSleep();
        for (int i = 0; i < 200; i++)
        {
            sleep.Learn(18_000 + (i % 3 * 500));
        }

        Assert.InRange(sleep.MarginNanoseconds, 18_000, 22_000);
    }

    [Fact]
    public void AnOutlierMovesTheMarginOnlyAFewDeviations()
    {
        var sleep = new PreciseSleep();
        for (int i = 0; i < 200; i++)
        {
            sleep.Learn(18_000);
        }

        long before = sleep.MarginNanoseconds;
        sleep.Learn(5_000_000);
        Assert.InRange(sleep.MarginNanoseconds - before, 1, 10_000);
    }

    [Fact]
    public void ARisingLatenessIsFollowed()
    {
        var sleep = new PreciseSleep();
        for (int i = 0; i < 500; i++)
        {
            sleep.Learn(60_000);
        }

        Assert.InRange(sleep.MarginNanoseconds, 58_000, 66_000);
    }

    [Fact]
    public void ForgettingShrinksAMarginThatSwallowedTheWait_DownToTheMinimum()
    {
        var sleep = new PreciseSleep();
        for (int i = 0; i < 100; i++)
        {
            sleep.Learn(150_000);
        }

        for (int i = 0; i < 200; i++)
        {
            sleep.Forget();
        }

        Assert.Equal(PreciseSleep.MinimumMarginNanoseconds, sleep.MarginNanoseconds);
    }

    [Fact]
    public void SleepsUntilTheDeadline_NeverBefore()
    {
        var sleep = new PreciseSleep();
        PreciseSleep.TuneCurrentThread();
        for (int i = 0; i < 20; i++)
        {
            long deadline = Stopwatch.GetTimestamp() + (Stopwatch.Frequency / 5_000);
            sleep.Until(deadline);
            Assert.True(Stopwatch.GetTimestamp() >= deadline);
        }
    }
}
