using Blkmq.Tests.Infrastructure;

namespace Blkmq.Tests.Rules;

/// <summary>Rule 7: removing a disk drains or fails its in-flight IO; no driver callback runs after removal returns.</summary>
public sealed class Rule7RemovalTests
{
    [Fact]
    public async Task Rule7_RemoveWithIoInFlight_WaitsForTheDriverThenNoCallbacks()
    {
        TestRig rig = TestRig.Create(depth: 8, fakeTime: false);
        ValueTask[] reads = [.. Enumerable.Range(0, 3).Select(i => rig.Device.ReadAsync(i * 512, new byte[512]))];
        var held = new List<Request<TestRequest>>();
        for (int i = 0; i < 3; i++)
        {
            held.Add(await rig.Data.NextAsync());
        }

        Task removal = rig.Disk.RemoveAsync().AsTask();
        await Task.Delay(50);
        Assert.False(removal.IsCompleted);

        BlockIOException refused = await Assert.ThrowsAsync<BlockIOException>(async () => await rig.Device.ReadAsync(0, new byte[512]));
        Assert.Equal(BlockStatus.Offline, refused.Status);

        foreach (Request<TestRequest> request in held)
        {
            request.Complete(BlockStatus.Ok);
        }

        await removal.WaitAsync(TimeSpan.FromSeconds(30));
        rig.Data.Removed = true;
        foreach (ValueTask read in reads)
        {
            await read;
        }

        Assert.True(rig.Disk.IsRemoved);
        Assert.Equal(1, rig.Data.ExitHctxCalls);
        Assert.Equal(3, rig.Data.CompleteCalls);
        await Task.Delay(50);
        Assert.Equal(0, rig.Data.CallbacksAfterRemoval);
        Assert.Equal(0, rig.TagSet.TagsInUse);
        Assert.Empty(rig.TagSet.Disks);
        await rig.DisposeAsync();
    }

    [Fact]
    public async Task Rule7_RemoveWithStuckDriver_FailsInFlightAfterGrace()
    {
        TestRig rig = TestRig.Create(depth: 4, fakeTime: false);
        ValueTask read = rig.Device.ReadAsync(0, new byte[512]);
        Request<TestRequest> stuck = await rig.Data.NextAsync();

        await rig.Disk.RemoveAsync(TimeSpan.FromMilliseconds(100)).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        rig.Data.Removed = true;

        BlockIOException error = await Assert.ThrowsAsync<BlockIOException>(async () => await read);
        Assert.Equal(BlockStatus.Offline, error.Status);
        Assert.False(stuck.TryEnd(BlockStatus.Ok));
        Assert.Equal(0, rig.Data.CallbacksAfterRemoval);
        Assert.Equal(0, rig.TagSet.TagsInUse);
        await rig.DisposeAsync();
    }

    [Fact]
    public async Task Rule7_RemoveWhileQuiesced_FailsHeldRequests()
    {
        TestRig rig = TestRig.Create(depth: 4, fakeTime: false);
        await rig.Disk.QuiesceAsync();
        ValueTask read = rig.Device.ReadAsync(0, new byte[512]);

        await rig.Disk.RemoveAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));

        BlockIOException error = await Assert.ThrowsAsync<BlockIOException>(async () => await read);
        Assert.Equal(BlockStatus.Offline, error.Status);
        Assert.Equal(0, rig.Data.QueueRqCalls);
        Assert.Equal(0, rig.TagSet.TagsInUse);
        await rig.DisposeAsync();
    }

    [Fact]
    public async Task Rule7_SubmitWhileRemoving_EitherCompletesOrFailsOffline()
    {
        TestRig rig = TestRig.Create(depth: 4, fakeTime: false, configure: d => d.OnQueueRq = (rq, _) =>
        {
            rq.Complete(BlockStatus.Ok);
            return BlockStatus.Ok;
        });
        using var stop = new CancellationTokenSource();
        int ok = 0;
        int offline = 0;
        Task[] submitters = [.. Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            byte[] buffer = new byte[512];
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await rig.Device.ReadAsync(0, buffer);
                    Interlocked.Increment(ref ok);
                }
                catch (BlockIOException ex) when (ex.Status == BlockStatus.Offline)
                {
                    Interlocked.Increment(ref offline);
                    return;
                }
            }
        }))];

        // Remove while IO flows: once every submitter has had time to run and some reads have completed (a fixed 20 ms
        // was not always enough on a loaded 2-core machine: no read had completed yet, and the test failed).
        await Task.Delay(20);
        long deadline = Environment.TickCount64 + 10_000;
        while (Volatile.Read(ref ok) == 0 && Environment.TickCount64 < deadline)
        {
            await Task.Delay(5);
        }

        await rig.Disk.RemoveAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        rig.Data.Removed = true;
        await Task.WhenAll(submitters).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.True(ok > 0);
        Assert.Equal(4, offline);
        Assert.Equal(0, rig.Data.CallbacksAfterRemoval);
        Assert.Equal(0, rig.TagSet.TagsInUse);
        await rig.DisposeAsync();
    }
}
