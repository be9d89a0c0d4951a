using Blkmq.Metrics;

namespace Blkmq.Tests.Metrics;

/// <summary>
/// <see cref="FrontendCounters"/>: per-thread shards summed into a snapshot and into the <c>blkmq.frontend.*</c>
/// instruments; a retired shard's counts stay in the totals; a disposed front end leaves the instruments.
/// </summary>
public sealed class FrontendCountersTests
{
    [Fact]
    public void Snapshot_LiveAndRetiredShards_AreSummed()
    {
        using var counters = new FrontendCounters(UniqueName());
        FrontendCounterShard first = counters.OpenConnection();
        FrontendCounterShard second = counters.OpenConnection();
        FrontendCounterShard worker = counters.AddWorker();
        first.Count(FrontendRequestKind.Read, 4096);
        first.Count(FrontendRequestKind.Write, 512);
        second.Count(FrontendRequestKind.Read, 1000);
        worker.Count(FrontendRequestKind.Flush, 0);
        second.Dispose();
        second.Dispose(); // a second dispose changes nothing

        FrontendStats stats = counters.GetStatistics();

        Assert.Equal(1, stats.OpenConnections);
        Assert.Equal(2, stats.ConnectionsOpened);
        Assert.Equal(2, stats.RequestsOf(FrontendRequestKind.Read));
        Assert.Equal(1, stats.RequestsOf(FrontendRequestKind.Write));
        Assert.Equal(1, stats.RequestsOf(FrontendRequestKind.Flush));
        Assert.Equal(0, stats.RequestsOf(FrontendRequestKind.Other));
        Assert.Equal(5096, stats.BytesRead);
        Assert.Equal(512, stats.BytesWritten);
    }

    [Fact]
    public void Instruments_ReportConnectionsRequestsAndBytes_UntilDisposed()
    {
        string name = UniqueName();
        var counters = new FrontendCounters(name);
        using var collector = new MetricsCollector("frontend", name, enableHistogram: false);
        FrontendCounterShard connection = counters.OpenConnection();
        connection.Count(FrontendRequestKind.Write, 65536);
        connection.Count(FrontendRequestKind.Discard, 0);
        connection.Count(FrontendRequestKind.Other, 0);

        IReadOnlyDictionary<string, double> values = collector.Collect();

        Assert.Equal(1, values["blkmq.frontend.connections{}"]);
        Assert.Equal(1, values["blkmq.frontend.connections.opened{}"]);
        Assert.Equal(1, values["blkmq.frontend.requests{op=write}"]);
        Assert.Equal(1, values["blkmq.frontend.requests{op=discard}"]);
        Assert.Equal(1, values["blkmq.frontend.requests{op=other}"]);
        Assert.Equal(0, values["blkmq.frontend.requests{op=read}"]);
        Assert.Equal(65536, values["blkmq.frontend.io{direction=write}"]);
        Assert.Equal(0, values["blkmq.frontend.io{direction=read}"]);

        connection.Dispose();
        Assert.Equal(0, collector.Collect()["blkmq.frontend.connections{}"]);

        counters.Dispose();
        Assert.Empty(collector.Collect());
    }

    [Fact]
    public void Count_SteadyState_AllocatesNothing()
    {
        using var counters = new FrontendCounters(UniqueName());
        using FrontendCounterShard shard = counters.OpenConnection();
        // Three measured rounds after a warm-up, the least counted: a one-off allocation by the runtime on this thread
        // (tiering, a type load) is not the steady state, but a Count that allocates does so in every round.
        long least = long.MaxValue;
        for (int round = 0; round < 4; round++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 10_000; i++)
            {
                shard.Count((FrontendRequestKind)(i % 6), i);
            }

            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            least = round == 0 ? least : Math.Min(least, allocated);
        }

        Assert.Equal(0, least);
        Assert.Equal(40_000, counters.GetStatistics().Requests.Sum());
    }

    private static string UniqueName() => "test" + Guid.NewGuid().ToString("N")[..8];
}
