using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests;

/// <summary>
/// The server's steady state allocates (next to) nothing per request: fio drives 4 KiB reads and writes at depth 32
/// from another process while this process' allocated bytes are counted. Runs alone, so no other test's allocations
/// are counted.
/// </summary>
[Collection("alone")]
public sealed class AllocationTests
{
    [Theory]
    [InlineData("randread")]
    [InlineData("randwrite")]
    public async Task SteadyState_AllocatesAlmostNothingPerRequest(string rw)
    {
        ExternalTool.Require("fio");
        await using NbdTestServer server = await NbdTestServer.StartAsync("memory_backed=1,size=64M,irqmode=0,hw_queue_depth=128");
        const int Ios = 100_000;
        string[] Arguments(int count) =>
        [
            "--name=alloc", "--ioengine=nbd", "--uri=" + server.Uri(), "--rw=" + rw, "--bs=4k", "--iodepth=32",
            "--size=64m", "--number_ios=" + count, "--randrepeat=1",
        ];

        // Warm up: pools, tiered JIT, the connection's buffers.
        await ExternalTool.RunCheckedAsync("fio", Arguments(20_000), TimeSpan.FromMinutes(1));
        await server.WaitForNoConnectionsAsync();

        // Per request the steady state allocates nothing (measured: -0.75 and 0.09 bytes per extra IO). The slack,
        // ~150 KB over the runs, is for a timer or log line that lands in one run and not the other: any object
        // allocated per request would cost 24 bytes or more. A Debug build allocates more; the bound is looser.
        bool optimized = typeof(Nbd.NbdServer).Assembly.GetCustomAttributes(typeof(System.Diagnostics.DebuggableAttribute), false)
            .Cast<System.Diagnostics.DebuggableAttribute>().All(static a => !a.IsJITOptimizerDisabled);
        double limit = optimized ? 2 : 64;

        // A one-off allocation of the process that lands in the long run only (one CI run saw 387 KB once: 5 bytes
        // per extra IO, not repeated in the runs after it) must not fail the test; an allocation per request shows
        // in every attempt. So up to three attempts, and the test fails only if none stays under the limit.
        var attempts = new List<string>();
        for (int attempt = 0; attempt < 3; attempt++)
        {
            // Two runs of different lengths, each on a fresh connection: what a connection costs once (its buffers,
            // threads and request pool) is in both, so their difference is what the extra requests allocated.
            long Measure(long before) => GC.GetTotalAllocatedBytes(precise: true) - before;
            long start = GC.GetTotalAllocatedBytes(precise: true);
            await ExternalTool.RunCheckedAsync("fio", Arguments(Ios / 4), TimeSpan.FromMinutes(2));
            await server.WaitForNoConnectionsAsync();
            long shortRun = Measure(start);
            start = GC.GetTotalAllocatedBytes(precise: true);
            await ExternalTool.RunCheckedAsync("fio", Arguments(Ios), TimeSpan.FromMinutes(2));
            await server.WaitForNoConnectionsAsync();
            long longRun = Measure(start);
            double perIo = (double)(longRun - shortRun) / (Ios - (Ios / 4));
            string figures = $"{rw}: {longRun / Ios} bytes per IO including the connection; {perIo:F3} bytes per extra IO ({shortRun} B for {Ios / 4} IOs, {longRun} B for {Ios})";
            TestContext.Current.TestOutputHelper?.WriteLine(figures);
            attempts.Add(figures);
            if (perIo < limit)
            {
                return;
            }
        }

        Assert.Fail($"more than {limit} bytes allocated per {rw} in every attempt (optimized build: {optimized}): {string.Join("; ", attempts)}");
    }
}

[CollectionDefinition("alone", DisableParallelization = true)]
public sealed class AloneCollection
{
}
