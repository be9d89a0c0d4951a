using Blkmq.Drivers.Null;
using Blkmq.Tests.Infrastructure;

namespace Blkmq.Tests.NullBlk;

/// <summary>submit_queues, poll_queues, hw_queue_depth, blocking, nr_devices, shared_tags and no_sched, seen through the public API.</summary>
public sealed class NullBlkQueueParameterTests
{
    [Fact]
    public async Task QueueParameters_ShapeTheTagSet()
    {
        await using NullBlock nullb = NullBlock.Create("submit_queues=3,poll_queues=2,hw_queue_depth=7,blocking=1,size=1M");
        TagSetCore tagSet = Assert.Single(nullb.TagSets);
        Assert.Equal(3, tagSet.HardwareQueueCount);
        Assert.Equal(2, tagSet.PollQueueCount);
        Assert.Equal(7, tagSet.QueueDepth);
        Assert.True(tagSet.Options.Blocking);
    }

    [Fact]
    public async Task NrDevices_CreatesNumberedDisksEachWithItsOwnTagSet()
    {
        await using NullBlock nullb = NullBlock.Create("nr_devices=3,size=1M,irqmode=0");
        Assert.Equal(["nullb0", "nullb1", "nullb2"], nullb.Disks.Select(static d => d.Name));
        Assert.Equal(3, nullb.TagSets.Count);
        Assert.Equal([0, 1, 2], nullb.Devices.Select(static d => d.Index));
        foreach (Disk disk in nullb.Disks)
        {
            await disk.OpenDevice().ReadAsync(0, new byte[512]);
        }
    }

    [Fact]
    public async Task NoSched_IsAcceptedAndTheDiskWorksAsWithout()
    {
        await using NullBlock nullb = NullBlock.Create("no_sched=1,size=1M,irqmode=0,memory_backed=1");
        Assert.True(nullb.Options.NoScheduler);
        BlockDevice device = nullb.Disk.OpenDevice();
        await device.WriteAsync(0, new byte[512]);
        await device.ReadAsync(0, new byte[512]);
    }

    [Fact]
    public async Task PollQueues_RequestCompletesOnlyWhenPolled()
    {
        await using NullBlock nullb = NullBlock.Create("poll_queues=1,irqmode=0,size=1M");
        BlockDevice device = nullb.Disk.OpenDevice();
        Task read = device.ReadAsync(0, new byte[512], RequestFlags.Polled).AsTask();

        // Nothing but a poll ends a request on a poll queue: without one it stays in flight.
        HangGuard.Eventually(() => nullb.TagSets[0].GetTagsInUse(1) == 1, "the polled read reached the poll queue");
        Assert.False(read.IsCompleted);
        Assert.Equal(1, nullb.Disk.InFlight);

        Assert.Equal(1, device.Poll());
        await read.Guard();
    }

    [Fact]
    public async Task SharedTags_TotalInFlightAcrossDisksIsHwQueueDepth()
    {
        await using NullBlock nullb = NullBlock.Create("nr_devices=2,shared_tags=1,hw_queue_depth=4,poll_queues=1,irqmode=0,size=1M");
        TagSetCore tagSet = Assert.Single(nullb.TagSets);
        Assert.Equal(2, tagSet.Disks.Count);

        // Polled requests stay in flight until polled, so the tags they hold show the limit.
        List<Task> reads = SubmitPolledReads(nullb, perDisk: 3);
        HangGuard.Eventually(() => tagSet.GetTagsInUse(1) == 4, "four of the six reads hold the shared tags");
        Assert.Equal(4, nullb.Disks.Sum(static d => d.InFlight));
        Assert.DoesNotContain(reads, static r => r.IsCompleted);

        await PollUntilDoneAsync(nullb, reads);
        Assert.Equal(0, tagSet.TagsInUse);
    }

    [Fact]
    public async Task NotSharedTags_EachDiskHasHwQueueDepthOfItsOwn()
    {
        await using NullBlock nullb = NullBlock.Create("nr_devices=2,hw_queue_depth=4,poll_queues=1,irqmode=0,size=1M");
        Assert.Equal(2, nullb.TagSets.Count);
        List<Task> reads = SubmitPolledReads(nullb, perDisk: 3);
        HangGuard.Eventually(() => nullb.TagSets.All(static t => t.GetTagsInUse(1) == 3), "all six reads in flight");
        await PollUntilDoneAsync(nullb, reads);
    }

    [Fact]
    public async Task HwQueueDepth_LimitsInFlightPerQueue()
    {
        await using NullBlock nullb = NullBlock.Create("hw_queue_depth=2,poll_queues=1,irqmode=0,size=1M");
        List<Task> reads = SubmitPolledReads(nullb, perDisk: 5);
        HangGuard.Eventually(() => nullb.TagSets[0].GetTagsInUse(1) == 2, "two reads hold the two tags");
        Assert.Equal(2, nullb.Disk.InFlight);
        await PollUntilDoneAsync(nullb, reads);
    }

    private static List<Task> SubmitPolledReads(NullBlock nullb, int perDisk)
    {
        var reads = new List<Task>();
        foreach (Disk disk in nullb.Disks)
        {
            BlockDevice device = disk.OpenDevice();
            for (int i = 0; i < perDisk; i++)
            {
                reads.Add(device.ReadAsync(i * 512L, new byte[512], RequestFlags.Polled).AsTask());
            }
        }

        return reads;
    }

    private static async Task PollUntilDoneAsync(NullBlock nullb, List<Task> reads)
    {
        Task all = Task.WhenAll(reads);
        using var timeout = new CancellationTokenSource(HangGuard.Limit);
        while (!all.IsCompleted)
        {
            timeout.Token.ThrowIfCancellationRequested();
            foreach (Disk disk in nullb.Disks)
            {
                disk.Poll();
            }

            await Task.Delay(1, TestContext.Current.CancellationToken);
        }

        await all;
    }
}
