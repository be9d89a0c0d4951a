using Blkmq.Tests.Infrastructure;

namespace Blkmq.Tests;

public sealed class FreezeQuiesceTests
{
    [Fact]
    public async Task Freeze_WaitsForInFlight_AndHoldsNewIoUntilUnfreeze()
    {
        await using TestRig rig = TestRig.Create(fakeTime: false);
        ValueTask first = rig.Device.ReadAsync(0, new byte[512]);
        Request<TestRequest> held = await rig.Data.NextAsync();

        Task freeze = rig.Disk.FreezeAsync().AsTask();
        await Task.Delay(30);
        Assert.False(freeze.IsCompleted);
        Assert.True(rig.Disk.IsFrozen);

        held.End(BlockStatus.Ok);
        await first;
        await freeze.WaitAsync(TimeSpan.FromSeconds(30));

        ValueTask second = rig.Device.ReadAsync(512, new byte[512]);
        await Task.Delay(30);
        Assert.Equal(1, rig.Data.QueueRqCalls);

        rig.Disk.Unfreeze();
        Request<TestRequest> next = await rig.Data.NextAsync();
        next.End(BlockStatus.Ok);
        await second.AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Throws<InvalidOperationException>(rig.Disk.Unfreeze);
        rig.AssertIdle();
    }

    [Fact]
    public async Task Quiesce_HoldsDispatchInOrder_UnquiesceReleases()
    {
        var order = new List<long>();
        await using TestRig rig = TestRig.Create(fakeTime: false, depth: 8, configure: d => d.OnQueueRq = (rq, _) =>
        {
            lock (order)
            {
                order.Add(rq.Sector);
            }

            rq.End(BlockStatus.Ok);
            return BlockStatus.Ok;
        });
        await rig.Disk.QuiesceAsync();
        ValueTask[] reads = [.. Enumerable.Range(0, 3).Select(i => rig.Device.ReadAsync(i * 512L, new byte[512]))];
        await Task.Delay(30);
        Assert.Empty(order);
        Assert.Equal(3, rig.Disk.InFlight);

        rig.Disk.Unquiesce();
        foreach (ValueTask read in reads)
        {
            await read.AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        }

        Assert.Equal([0L, 1L, 2L], order);
        Assert.Throws<InvalidOperationException>(rig.Disk.Unquiesce);
        rig.AssertIdle();
    }
}
