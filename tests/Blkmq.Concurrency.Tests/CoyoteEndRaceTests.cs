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
/// layer (its rewriter puts a scheduling point at every shared memory access). Needs the assemblies rewritten by
/// <c>coyote rewrite</c> (see <c>coyote-rewrite.sh</c>); without that it is skipped.
/// </summary>
public sealed class CoyoteEndRaceTests
{
    // Which party won, per iteration: proof that the exploration reached every outcome, not just one order.
    private static readonly int[] s_winners = new int[3];

    [Fact]
    public void EndEndAndTimeoutScan_AllInterleavings_ExactlyOneEndWins()
    {
        if (!RewritingEngine.IsAssemblyRewritten(typeof(CoyoteEndRaceTests).Assembly)
            || !RewritingEngine.IsAssemblyRewritten(typeof(TagSetCore).Assembly))
        {
            Assert.Skip("Coyote systematic test: run tests/Blkmq.Concurrency.Tests/coyote-rewrite.sh, then this test from the rewritten output.");
        }

        Array.Clear(s_winners);
        Configuration configuration = Configuration.Create()
            .WithTelemetryEnabled(false)
            .WithTestingIterations(1000)
            .WithMaxSchedulingSteps(20_000)
            .WithPartiallyControlledConcurrencyAllowed(true)
            .WithRandomGeneratorSeed(1);
        using TestingEngine engine = TestingEngine.Create(configuration, EndRaceAsync);
        engine.Run();
        TestReport report = engine.TestReport;
        Assert.True(report.NumOfFoundBugs == 0, string.Join(Environment.NewLine, report.BugReports));
        Assert.All(s_winners, static count => Assert.True(count > 0, $"an outcome never came up: first/second/timeout = {string.Join('/', s_winners)}"));
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
}
