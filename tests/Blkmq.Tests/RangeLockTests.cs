namespace Blkmq.Tests;

/// <summary>
/// The range lock: overlapping exclusive holds wait, disjoint ones do not, shared holds wait only for exclusive ones (and
/// exclusive ones for every write that passed the write gate unrecorded), and a stale second dispose is harmless.
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
    public async Task ExclusiveHold_WaitsForUnrecordedWrites_AndRaisesTheWriteGateWhileItWaits()
    {
        // The unrecorded writes: writes that passed the gate before it was raised, still in flight.
        var inFlight = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int scans = 0;
        var ranges = new RangeLock(_ =>
        {
            scans++;
            return new ValueTask(inFlight.Task);
        });
        Assert.False(ranges.IsExclusiveWanted);

        ValueTask<RangeLock.Releaser> exclusive = ranges.AcquireAsync(1 << 20, (1 << 20) + 10, TestContext.Current.CancellationToken);
        Assert.Equal(1, scans);
        Assert.False(exclusive.IsCompleted);
        Assert.True(ranges.IsExclusiveWanted);

        // Recorded shared holds do not wait for unrecorded writes, nor for an exclusive hold that is only wanted.
        ValueTask<RangeLock.Releaser> disjoint = ranges.AcquireSharedAsync(0, 4096, TestContext.Current.CancellationToken);
        Assert.True(disjoint.IsCompletedSuccessfully);

        inFlight.SetResult();
        RangeLock.Releaser held = await exclusive.AsTask().WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

        // Held: an overlapping shared hold waits for it, a disjoint one does not.
        ValueTask<RangeLock.Releaser> overlapping = ranges.AcquireSharedAsync((1 << 20) + 5, (1 << 20) + 4096, TestContext.Current.CancellationToken);
        Assert.False(overlapping.IsCompleted);
        (await disjoint).Dispose();
        held.Dispose();
        Assert.False(ranges.IsExclusiveWanted);
        (await overlapping.AsTask().WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken)).Dispose();
    }

    [Fact]
    public async Task CancelledExclusiveWait_LowersTheWriteGate()
    {
        var inFlight = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var ranges = new RangeLock(cancellationToken => new ValueTask(inFlight.Task.WaitAsync(cancellationToken)));
        using var cancel = new CancellationTokenSource();
        ValueTask<RangeLock.Releaser> exclusive = ranges.AcquireAsync(0, 10, cancel.Token);
        Assert.True(ranges.IsExclusiveWanted);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await exclusive);
        Assert.False(ranges.IsExclusiveWanted);
    }
}
