namespace Blkmq.Tests;

/// <summary>
/// The range lock: overlapping exclusive holds wait, disjoint ones do not, shared holds wait only for exclusive ones (and
/// exclusive ones for every shared hold taken on the fast path), and a stale second dispose is harmless.
/// </summary>
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

    [Fact]
    public async Task SharedHolds_DoNotWaitForEachOther_ButAnExclusiveHoldWaitsForThem()
    {
        var ranges = new RangeLock();
        Assert.True(ranges.TryEnterShared());
        Assert.True(ranges.TryEnterShared());
        Assert.Equal(2, ranges.FastSharedCount);

        // A fast shared hold has no range: any exclusive hold waits until all of them are released.
        ValueTask<RangeLock.Releaser> exclusive = ranges.AcquireAsync(1 << 20, (1 << 20) + 10, TestContext.Current.CancellationToken);
        Assert.False(exclusive.IsCompleted);

        // While an exclusive hold is wanted, shared ones are recorded: a disjoint one goes ahead.
        Assert.False(ranges.TryEnterShared());
        ValueTask<RangeLock.Releaser> disjoint = ranges.AcquireSharedAsync(0, 4096, TestContext.Current.CancellationToken);
        Assert.True(disjoint.IsCompletedSuccessfully);

        ranges.ExitShared();
        Assert.False(exclusive.IsCompleted);
        ranges.ExitShared();
        RangeLock.Releaser held = await exclusive.AsTask().WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

        // Held: an overlapping shared hold waits for it, a disjoint one does not.
        ValueTask<RangeLock.Releaser> overlapping = ranges.AcquireSharedAsync((1 << 20) + 5, (1 << 20) + 4096, TestContext.Current.CancellationToken);
        Assert.False(overlapping.IsCompleted);
        (await disjoint).Dispose();
        held.Dispose();
        (await overlapping.AsTask().WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken)).Dispose();

        // No exclusive hold left: shared holds take the fast path again.
        Assert.True(ranges.TryEnterShared());
        ranges.ExitShared();
        Assert.Equal(0, ranges.FastSharedCount);
    }

    [Fact]
    public async Task CancelledExclusiveWait_LetsSharedHoldsTakeTheFastPathAgain()
    {
        var ranges = new RangeLock();
        Assert.True(ranges.TryEnterShared());
        using var cancel = new CancellationTokenSource();
        ValueTask<RangeLock.Releaser> exclusive = ranges.AcquireAsync(0, 10, cancel.Token);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await exclusive);
        ranges.ExitShared();
        Assert.True(ranges.TryEnterShared());
        ranges.ExitShared();
    }
}
