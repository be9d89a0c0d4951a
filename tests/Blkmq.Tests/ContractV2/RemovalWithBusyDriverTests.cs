using Blkmq.Tests.Infrastructure;

namespace Blkmq.Tests.ContractV2;

/// <summary>
/// Defect 5: removing a disk whose driver answers busy forever used to hang (the dispatch list was failed once, the
/// requeued request came back to it, and the drain waited for it forever). Busy requests of a removed disk fail
/// with <see cref="BlockStatus.Offline"/>, and no driver callback (CommitRqs included) runs after removal returns.
/// </summary>
public sealed class RemovalWithBusyDriverTests
{
    [Theory]
    [InlineData(BlockStatus.Busy)]
    [InlineData(BlockStatus.ResourceBusy)]
    public async Task Remove_DriverAlwaysBusy_CompletesAndFailsTheRequestsOffline(BlockStatus busy)
    {
        Disk? disk = null;
        await using TestRig rig = TestRig.Create(fakeTime: false, configure: d => d.OnQueueRq = (_, _) =>
        {
            if (d.QueueRqCalls > 1)
            {
                // A retry from the dispatch list: refuse it again only once removal has failed the list, the
                // order that used to leave the request on the list for ever.
                HangGuard.Eventually(() => Volatile.Read(ref disk)?.IsRemoved == true, "the removal to start");
                Thread.Sleep(10);
            }

            return busy;
        });
        Volatile.Write(ref disk, rig.Disk);
        ValueTask<BlockStatus> read = rig.Device.ReadStatusAsync(0, new byte[512]);
        HangGuard.Eventually(() => rig.Data.QueueRqCalls >= 2, "the driver to be asked again");

        await rig.Disk.RemoveAsync(TimeSpan.FromMilliseconds(200)).AsTask().WaitAsync(TimeSpan.FromSeconds(20));
        rig.Data.Removed = true;

        Assert.Equal(BlockStatus.Offline, await read.AsTask().Guard());
        Assert.Equal(0, rig.TagSet.TagsInUse);
        Thread.Sleep(20);
        Assert.Equal(0, rig.Data.CallbacksAfterRemoval);
    }

    [Fact]
    public async Task Remove_WhileABatchIsRefusedPartWay_NoCallbackRunsAfterRemoval()
    {
        // A plugged batch whose second request is refused makes the block layer call CommitRqs for the first; a
        // removal racing it must not let that CommitRqs (or any callback) reach a queue it has exited.
        for (int round = 0; round < 50; round++)
        {
            await using TestRig rig = TestRig.Create(fakeTime: false, depth: 8, configure: d => d.OnQueueRq = (rq, isLast) =>
            {
                if (rq.Sector == 0)
                {
                    rq.End(BlockStatus.Ok);
                    return BlockStatus.Ok;
                }

                return BlockStatus.Busy;
            });
            var batch = new BlockBatch(rig.Device);
            batch.Read(0, new byte[512]);
            batch.Read(4096, new byte[512]);
            Task submitted = batch.SubmitAsync().AsTask();
            Task removal = Task.Run(async () => await rig.Disk.RemoveAsync(TimeSpan.FromMilliseconds(50)));

            await removal.Guard();
            rig.Data.Removed = true;
            await submitted.Guard();
            Assert.Equal(BlockStatus.Ok, batch.GetStatus(0));
            Assert.Equal(BlockStatus.Offline, batch.GetStatus(1));
            Thread.Sleep(5);
            Assert.Equal(0, rig.Data.CallbacksAfterRemoval);
            Assert.Equal(1, rig.Data.ExitHctxCalls);
        }
    }
}
