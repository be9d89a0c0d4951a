using Blkmq.Concurrency.Tests.Infrastructure;
using Microsoft.Coyote;
using Microsoft.Coyote.Rewriting;
using Microsoft.Coyote.Specifications;
using Microsoft.Coyote.SystematicTesting;
using Microsoft.Extensions.Time.Testing;

namespace Blkmq.Concurrency.Tests;

/// <summary>
/// Rules 1, 4 and 5 by systematic testing: Coyote runs a driver end, a second end through a copy of the handle and
/// a timeout scan as controlled tasks and explores their interleavings down to field accesses inside the block
/// layer (its rewriter puts a scheduling point at every shared memory access); likewise rule 9 and the tag bitmap's
/// FIFO hand-off to waiters. Needs the assemblies rewritten by
/// <c>coyote rewrite</c> (see <c>coyote-rewrite.sh</c>); without that it is skipped.
/// </summary>
public sealed class CoyoteEndRaceTests
{
    // Which party won, per iteration: proof that the exploration reached every outcome, not just one order.
    private static readonly int[] s_winners = new int[3];

    [Fact]
    public void EndEndAndTimeoutScan_AllInterleavings_ExactlyOneEndWins()
    {
        SkipUnlessRewritten();
        Array.Clear(s_winners);
        RunSystematic(EndRaceAsync, iterations: 1000);
        Assert.All(s_winners, static count => Assert.True(count > 0, $"an outcome never came up: first/second/timeout = {string.Join('/', s_winners)}"));
    }

    [Fact]
    public void TimeoutScanRacingEndAndRelease_AllInterleavings_NeverReadsAFreedSlot()
    {
        // Defect 2: the scan moved a request to TimingOut and then read its queue; an end plus the submitter's
        // release in between left that read a null queue (an exception on the timer thread, which ends the process).
        SkipUnlessRewritten();
        RunSystematic(ScanVersusEndAndReleaseAsync, iterations: 1000);
    }

    [Fact]
    public void TwoSubmittersOneQueue_AllInterleavings_QueueRqNeverOverlaps()
    {
        // Rule 9: a driver that does not declare ConcurrentQueueRq sees one QueueRq at a time per queue.
        SkipUnlessRewritten();
        RunSystematic(TwoSubmittersAsync, iterations: 500);
    }

    [Fact]
    public void AllocatorRacingAWaiterAndAFree_AllInterleavings_TheWaiterGetsTheTag()
    {
        // The tag bitmap's fast path read "no waiters", a waiter queued and the only tag was freed, and then the fast
        // path's search took that tag: the newcomer went ahead of the queue (found by the linearizability test).
        SkipUnlessRewritten();
        RunSystematic(AllocatorRacingWaiterAsync, iterations: 1000);
    }

    private static async Task AllocatorRacingWaiterAsync()
    {
        var tags = new TagBitmap(1);
        Specification.Assert(tags.TryAllocate(out int held), "the first tag");
        ValueTask<int> waiting = default;
        Task waiterThenFree = Task.Run(() =>
        {
            waiting = tags.AllocateAsync();
            tags.Free(held);
        });
        bool newcomerTook = false;
        Task newcomer = Task.Run(() => newcomerTook = tags.TryAllocate(out _));
        await Task.WhenAll(waiterThenFree, newcomer);

        // The only tag was freed after the waiter queued, so it is the waiter's: the newcomer either looked before the
        // free (no tag) or after the waiter queued (behind it).
        Specification.Assert(!newcomerTook, "a newcomer took the tag while a waiter queued before its free was waiting");
        Specification.Assert(waiting.IsCompleted, "the waiter was left waiting");
    }

    private static void SkipUnlessRewritten()
    {
        if (!RewritingEngine.IsAssemblyRewritten(typeof(CoyoteEndRaceTests).Assembly)
            || !RewritingEngine.IsAssemblyRewritten(typeof(TagSetCore).Assembly))
        {
            Assert.Skip("Coyote systematic test: run tests/Blkmq.Concurrency.Tests/coyote-rewrite.sh, then this test from the rewritten output.");
        }
    }

    private static void RunSystematic(Func<Task> test, int iterations)
    {
        Configuration configuration = Configuration.Create()
            .WithTelemetryEnabled(false)
            .WithTestingIterations((uint)iterations)
            .WithMaxSchedulingSteps(20_000)
            .WithPartiallyControlledConcurrencyAllowed(true)
            .WithRandomGeneratorSeed(1);
        using TestingEngine engine = TestingEngine.Create(configuration, test);
        engine.Run();
        TestReport report = engine.TestReport;
        Assert.True(report.NumOfFoundBugs == 0, string.Join(Environment.NewLine, report.BugReports));
    }

    private static async Task ScanVersusEndAndReleaseAsync()
    {
        var time = new FakeTimeProvider();
        ProbeRig rig = ProbeRig.Create(new TagSetOptions { QueueDepth = 1, RequestTimeout = TimeSpan.FromSeconds(1), TimeProvider = time });
        rig.Probe.OnQueueRq = rig.Probe.Capture;
        Task<BlockStatus> read = IoStatus.Of(rig.Device.ReadAsync(0, new byte[512]));
        Specification.Assert(rig.Probe.Captured.TryDequeue(out Request<ProbeRequest> handle), "QueueRq did not run synchronously");
        time.AdjustTime(time.GetUtcNow() + TimeSpan.FromSeconds(2));

        // The driver ends the request and its submitter reads the result (freeing the slot) on this task, while the
        // scan times it out on another.
        Task ender = Task.Run(async () =>
        {
            handle.TryEnd(BlockStatus.Ok, EndOptions.RunContinuationInline);
            await read;
        });
        Task scan = Task.Run(rig.TagSet.ScanTimeouts);
        await Task.WhenAll(ender, scan);

        BlockStatus seen = await read;
        Specification.Assert(seen is BlockStatus.Ok or BlockStatus.Timeout, "submitter saw {0}", seen);
        Specification.Assert(rig.TagSet.TagsInUse == 0, "the tag was not freed");
    }

    private static async Task TwoSubmittersAsync()
    {
        int inside = 0;
        int overlaps = 0;
        var tagSet = new TagSet<SerialDriver, int, SerialQueue, Action>(default, new TagSetOptions { QueueDepth = 2, TimeProvider = new FakeTimeProvider() });
        Disk disk = tagSet.AddDisk(
            () =>
            {
                if (Interlocked.Increment(ref inside) > 1)
                {
                    Interlocked.Increment(ref overlaps);
                }

                Interlocked.Decrement(ref inside);
            },
            new DiskOptions { Name = "serial", Capacity = 1 << 20 });
        BlockDevice device = disk.OpenDevice();
        Task first = Task.Run(async () => await device.ReadAsync(0, new byte[512]));
        Task second = Task.Run(async () => await device.ReadAsync(512, new byte[512]));
        await Task.WhenAll(first, second);
        Specification.Assert(Volatile.Read(ref overlaps) == 0, "two QueueRq calls for one queue overlapped");
        await tagSet.DisposeAsync();
    }

    private static async Task EndRaceAsync()
    {
        var time = new FakeTimeProvider();
        ProbeRig rig = ProbeRig.Create(new TagSetOptions { QueueDepth = 1, RequestTimeout = TimeSpan.FromSeconds(1), TimeProvider = time });
        rig.Probe.OnQueueRq = rig.Probe.Capture;
        Task<BlockStatus> read = IoStatus.Of(rig.Device.ReadAsync(0, new byte[512]));
        Specification.Assert(rig.Probe.Captured.TryDequeue(out Request<ProbeRequest> handle), "QueueRq did not run synchronously");

        // Past the deadline, without running the periodic scan: only the racing scan below times it out.
        time.AdjustTime(time.GetUtcNow() + TimeSpan.FromSeconds(2));

        bool firstEnded = false;
        bool secondEnded = false;
        Task first = Task.Run(() => firstEnded = handle.TryEnd(BlockStatus.Ok));
        Task second = Task.Run(() => secondEnded = handle.TryEnd(BlockStatus.IoError));
        Task scan = Task.Run(rig.TagSet.ScanTimeouts);
        await Task.WhenAll(first, second, scan);
        BlockStatus seen = await read;

        int winners = (firstEnded ? 1 : 0) + (secondEnded ? 1 : 0);
        Specification.Assert(winners <= 1, "two ends won");
        BlockStatus expected = firstEnded ? BlockStatus.Ok : secondEnded ? BlockStatus.IoError : BlockStatus.Timeout;
        Interlocked.Increment(ref s_winners[firstEnded ? 0 : secondEnded ? 1 : 2]);
        Specification.Assert(seen == expected, "submitter saw {0}, the winner ended with {1}", seen, expected);
        Specification.Assert(!handle.IsOwned, "the handle still owns the request after its end");
        Specification.Assert(rig.TagSet.TagsInUse == 0, "the tag was not freed");
    }

    /// <summary>Hardware-queue data a serialized driver may mutate through its <c>ref</c>.</summary>
    internal struct SerialQueue
    {
        public int Dispatched;
    }

    /// <summary>A driver that leaves dispatch serialized (the default) and reports every QueueRq to its disk's probe.</summary>
    internal readonly struct SerialDriver : IBlockDriver<int, SerialQueue, Action>
    {
        public BlockStatus QueueRq(ref SerialQueue hwQueue, Action disk, Request<int> request, bool isLast)
        {
            disk();
            hwQueue.Dispatched++;
            request.End(BlockStatus.Ok);
            return BlockStatus.Ok;
        }

        public SerialQueue InitHctx(Action disk, int hwQueueIndex) => default;

        public int InitRequest(int hwQueueIndex, int tag) => 0;
    }
}
