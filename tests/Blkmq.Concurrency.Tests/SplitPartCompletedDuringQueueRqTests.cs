using Blkmq.Concurrency.Tests.Infrastructure;

namespace Blkmq.Concurrency.Tests;

/// <summary>
/// Rule 1 ("never touches another IO") for a request that completes while its <c>QueueRq</c> is still running. A
/// driver may hand a request to the completion context from inside <c>QueueRq</c> (null_blk's softirq mode does);
/// for a request with a completion target (a part of a split IO) the context ends it and frees its tag at once,
/// so the slot can serve the next IO before the first <c>QueueRq</c> has returned. When that next IO is ended
/// inline in its own <c>QueueRq</c> at the moment the first dispatcher looks at the slot, the first dispatcher
/// must recognise the state as another IO's and leave it alone.
/// </summary>
public sealed class SplitPartCompletedDuringQueueRqTests
{
    private const long FirstPart = 0;
    private const long SecondPart = 1;
    private const long NextIo = 100;

    [Fact]
    public async Task SlotRecycledWhileFirstQueueRqRuns_NextIoEndedInline_IsNotCollectedByTheFirstDispatcher()
    {
        using var firstPartHandedToCompletion = new ManualResetEventSlim();
        using var nextIoEndedInline = new ManualResetEventSlim();
        using var firstDispatcherMovedOn = new ManualResetEventSlim();
        var probe = new DriverProbe
        {
            OnQueueRq = (hwQueue, request, isLast) =>
            {
                switch (request.Sector)
                {
                    case FirstPart:
                        // Completed from inside QueueRq; the completion context ends it and frees the tag while we
                        // are still here. Stay until the next IO on that slot has been ended inline.
                        // From another thread, as a device interrupt would: a completion raised on the
                        // dispatching thread itself is finished only after QueueRq returns.
                        Thread completer = new(() => request.Complete(BlockStatus.Ok));
                        completer.Start();
                        completer.Join();
                        firstPartHandedToCompletion.Set();
                        HangGuard.Wait(nextIoEndedInline, "the next IO to be ended inline");
                        return BlockStatus.Ok;
                    case NextIo:
                        // Ended inline; its own dispatcher collects it when we return, which we delay until the first
                        // dispatcher has looked at the slot and moved on to the second part.
                        request.EndOk();
                        nextIoEndedInline.Set();
                        HangGuard.Wait(firstDispatcherMovedOn, "the first dispatcher to reach the second part");
                        return BlockStatus.Ok;
                    default:
                        firstDispatcherMovedOn.Set();
                        request.EndOk();
                        return BlockStatus.Ok;
                }
            },
        };

        // One queue of depth 2 and 512-byte requests: a 1 KiB read is two parts, and the first part's slot (tag 0)
        // is the one the next IO gets once the completion context has freed it.
        ProbeRig rig = ProbeRig.Create(
            new TagSetOptions { QueueDepth = 2 },
            probe,
            new DiskOptions { Name = "split", Capacity = 1 << 20, Limits = new QueueLimits { MaxSectors = 1 } });
        await using (rig)
        {
            Task split = Task.Run(async () => await rig.Device.ReadAsync(FirstPart << 9, new byte[1024]), TestContext.Current.CancellationToken);
            HangGuard.Wait(firstPartHandedToCompletion, "the first part to be completed");
            HangGuard.Until(() => rig.TagSet.TagsInUse == 0, "the completion context to end the first part and free its tag");

            Task next = Task.Run(async () => await rig.Device.ReadAsync(NextIo << 9, new byte[512]), TestContext.Current.CancellationToken);

            await split.Guard();
            await next.Guard();
            Assert.Equal(0, rig.TagSet.TagsInUse);
            Assert.Equal(0, rig.Disk.InFlight);
            Assert.Equal(3, rig.Disk.GetStatistics().ReadIos);
            Assert.Equal(3, probe.Calls(CallbackKind.QueueRq));
        }
    }
}
