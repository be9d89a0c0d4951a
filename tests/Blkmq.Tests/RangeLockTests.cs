namespace Blkmq.Tests;

/// <summary>The range lock: overlapping holds wait, disjoint ones do not, and a stale second dispose is harmless.</summary>
public sealed class RangeLockTests
{
    [Fact]
    public async Task OverlappingHold_WaitsForTheRelease_DisjointOneDoesNot()
    {
        var ranges = new RangeLock();
        RangeLock.Releaser first = await ranges.AcquireAsync(0, 4096, TestContext.Current.CancellationToken);
        ValueTask<RangeLock.Releaser> overlapping = ranges.AcquireAsync(4095, 8192, TestContext.Current.CancellationToken);
        Assert.False(overlapping.IsCompleted);

        ValueTask<RangeLock.Releaser> disjoint = ranges.AcquireAsync(4096, 8192 + 4096, TestContext.Current.CancellationToken);
        Assert.True(disjoint.IsCompletedSuccessfully);
        RangeLock.Releaser third = await disjoint;

        first.Dispose();
        third.Dispose();
        RangeLock.Releaser second = await overlapping.AsTask().WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        second.Dispose();
    }

    [Fact]
    public async Task SecondDisposeOfAStaleHold_DoesNotReleaseTheNextHolder()
    {
        var ranges = new RangeLock();
        RangeLock.Releaser stale = await ranges.AcquireAsync(0, 10, TestContext.Current.CancellationToken);
        stale.Dispose();

        // The pooled holder now holds this range for someone else; the stale copy must not let a third party in.
        RangeLock.Releaser current = await ranges.AcquireAsync(0, 10, TestContext.Current.CancellationToken);
        stale.Dispose();
        ValueTask<RangeLock.Releaser> waiter = ranges.AcquireAsync(5, 6, TestContext.Current.CancellationToken);
        Assert.False(waiter.IsCompleted);

        current.Dispose();
        (await waiter.AsTask().WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken)).Dispose();
    }
}
