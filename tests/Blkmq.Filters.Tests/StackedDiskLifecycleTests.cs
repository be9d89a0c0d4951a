using Blkmq.Drivers;

namespace Blkmq.Filters.Tests;

/// <summary>
/// Freeze, quiesce and removal of a bio-based filter disk keep their meanings: a freeze completes only once every
/// admitted IO has ended, removal fails new IO with Offline and waits for what is in flight, quiesce holds new IO.
/// The null driver below holds each IO for a while (irqmode=2: a timer ends it).
/// </summary>
public sealed class StackedDiskLifecycleTests
{
    private const string SlowStack = "null:irqmode=2,completion_nsec=300000000,size=16M";

    [Theory]
    [InlineData("|pass")]
    [InlineData("|stats|pass")]
    public async Task Freeze_WaitsForInFlightIo_AndHoldsNewIo(string filters)
    {
        await using DriverInstance instance = Stacks.Create(SlowStack + filters);
        Disk top = instance.Disk;
        BlockDevice device = top.OpenDevice();
        ValueTask<BlockStatus> inFlight = device.ReadStatusAsync(0, new byte[4096]);
        Assert.False(inFlight.IsCompleted);
        Assert.Equal(1, top.InFlight);

        Task freeze = top.FreezeAsync().AsTask();
        await freeze;

        // Completing the freeze means the admitted IO ended first.
        Assert.True(inFlight.IsCompleted);
        Assert.Equal(0, top.InFlight);
        Assert.Equal(BlockStatus.Ok, await inFlight);

        // New IO waits at the frozen gate until the unfreeze.
        Task<BlockStatus> held = device.ReadStatusAsync(4096, new byte[4096]).AsTask();
        await Task.Delay(50);
        Assert.False(held.IsCompleted);
        top.Unfreeze();
        Assert.Equal(BlockStatus.Ok, await held);
    }

    [Fact]
    public async Task FreezeOfTheLowerStackedDisk_WaitsForIoSubmittedAtTheTop()
    {
        await using DriverInstance instance = Stacks.Create(SlowStack + "|stats|pass");
        var top = (StackedDisk)instance.Disk;
        Disk middle = top.Lower;
        ValueTask<BlockStatus> inFlight = top.OpenDevice().ReadStatusAsync(0, new byte[4096]);
        Assert.Equal(1, middle.InFlight);
        await middle.FreezeAsync();
        Assert.True(inFlight.IsCompleted);
        middle.Unfreeze();
        Assert.Equal(BlockStatus.Ok, await inFlight);
    }

    [Fact]
    public async Task Remove_WaitsForInFlightIo_ThenFailsNewIoWithOffline()
    {
        await using DriverInstance instance = Stacks.Create(SlowStack + "|stats");
        Disk top = instance.Disk;
        BlockDevice device = top.OpenDevice();
        Task<BlockStatus>[] inFlight = [.. Enumerable.Range(0, 8).Select(i => device.ReadStatusAsync(i * 4096L, new byte[4096]).AsTask())];

        await top.RemoveAsync();

        // Removal returned: everything admitted before it ended (with its own status), nothing is in flight.
        Assert.All(inFlight, t => Assert.True(t.IsCompleted));
        Assert.All(inFlight, t => Assert.Equal(BlockStatus.Ok, t.Result));
        Assert.Equal(0, top.InFlight);
        Assert.Equal(BlockStatus.Offline, await device.ReadStatusAsync(0, new byte[4096]));
        Assert.Equal(BlockStatus.Offline, await device.WriteStatusAsync(0, new byte[4096]));
        var stats = (StatsFilter)Assert.Single(FilterStack.FindFilters(instance));
        Assert.Equal(8, stats.Count(RequestOp.Read));
        Assert.Equal(0, stats.Count(RequestOp.Write));

        // The disk below still serves.
        Assert.Equal(BlockStatus.Ok, await ((StackedDisk)top).Lower.OpenDevice().ReadStatusAsync(0, new byte[4096]));
    }

    [Fact]
    public async Task Quiesce_HoldsNewIo_UnquiesceDispatchesIt()
    {
        await using DriverInstance instance = Stacks.Create("null:irqmode=1,size=16M|pass");
        Disk top = instance.Disk;
        BlockDevice device = top.OpenDevice();
        await top.QuiesceAsync();
        Task<BlockStatus> held = device.ReadStatusAsync(0, new byte[4096]).AsTask();
        await Task.Delay(50);
        Assert.False(held.IsCompleted);

        // The disk below is not quiesced: its own IO passes.
        Assert.Equal(BlockStatus.Ok, await ((StackedDisk)top).Lower.OpenDevice().ReadStatusAsync(0, new byte[4096]));
        top.Unquiesce();
        Assert.Equal(BlockStatus.Ok, await held);
    }

    [Fact]
    public async Task RemoveWhileQuiesced_FailsHeldIoWithOffline()
    {
        await using DriverInstance instance = Stacks.Create("null:irqmode=1,size=16M|pass");
        Disk top = instance.Disk;
        await top.QuiesceAsync();
        Task<BlockStatus> held = top.OpenDevice().ReadStatusAsync(0, new byte[4096]).AsTask();
        await Task.Delay(20);
        await top.RemoveAsync();
        Assert.Equal(BlockStatus.Offline, await held);
    }

    [Fact]
    public async Task ConcurrentIoAcrossFreezeCycles_EveryIoEndsOk()
    {
        await using DriverInstance instance = Stacks.Create("null:irqmode=1,size=16M|stats|pass");
        Disk top = instance.Disk;
        BlockDevice device = top.OpenDevice();
        using var stop = new CancellationTokenSource();
        long done = 0;
        Task[] workers = [.. Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            byte[] buffer = new byte[4096];
            for (int i = 0; !stop.IsCancellationRequested; i++)
            {
                Assert.Equal(BlockStatus.Ok, await device.ReadStatusAsync(((w * 1000) + i) % 4096 * 4096L, buffer));
                Interlocked.Increment(ref done);
            }
        }))];

        for (int cycle = 0; cycle < 20; cycle++)
        {
            await top.FreezeAsync();

            // Frozen: nothing new is admitted. Each worker may still be finishing the IO the freeze drained.
            long atFreeze = Interlocked.Read(ref done);
            await Task.Delay(5);
            Assert.InRange(Interlocked.Read(ref done) - atFreeze, 0, 4);

            // A submission the closed gate turns back names this disk from its preparation until it is undone (the
            // Dekker handshake needs it counted), so a submitter descheduled in that window shows for a moment.
            for (int wait = 0; wait < 400 && top.InFlight != 0; wait++)
            {
                await Task.Delay(5);
            }

            Assert.True(top.InFlight == 0, $"frozen '{top.Name}' still shows IO in flight: {DescribeSlots(top)}");
            top.Unfreeze();
            await Task.Delay(2);
        }

        await stop.CancelAsync();
        await Task.WhenAll(workers);
        Assert.Equal(0, top.InFlight);
        var stats = (StatsFilter)FilterStack.FindFilters(instance).Single(f => f.Name == "stats");
        Assert.Equal(Interlocked.Read(ref done), stats.Count(RequestOp.Read));
        Assert.Equal(Interlocked.Read(ref done), top.GetStatistics().ReadIos);
    }

    // What a failure needs to say: the state of every request slot that is not free, and whose IO it is.
    private static string DescribeSlots(Disk disk) => string.Join("; ",
        disk.TagSetCore.AllSlots
            .Select(slot => (Slot: slot, Word: slot.StateWord))
            .Where(s => RequestState.State(s.Word) != RequestState.Free)
            .Select(s => $"slot {s.Slot.Index} state {RequestState.State(s.Word)} disk {Volatile.Read(ref s.Slot._hctx)?.Disk.Name} origin {Volatile.Read(ref s.Slot._origin)?.Name}"));
}
