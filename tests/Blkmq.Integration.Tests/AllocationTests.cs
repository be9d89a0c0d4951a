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
        long before = GC.GetTotalAllocatedBytes(precise: true);
        await ExternalTool.RunCheckedAsync("fio", Arguments(Ios), TimeSpan.FromMinutes(2));
        await server.WaitForNoConnectionsAsync();
        long perIo = (GC.GetTotalAllocatedBytes(precise: true) - before) / Ios;
        TestContext.Current.TestOutputHelper?.WriteLine($"{rw}: {perIo} bytes allocated per IO");

        // A connection costs a few hundred KiB once (buffers, request pool); per IO it must stay near zero. A Debug
        // build compiles async state machines as classes, so every async call allocates there; the bound is looser.
        bool optimized = typeof(Nbd.NbdServer).Assembly.GetCustomAttributes(typeof(System.Diagnostics.DebuggableAttribute), false)
            .Cast<System.Diagnostics.DebuggableAttribute>().All(static a => !a.IsJITOptimizerDisabled);
        long limit = optimized ? 16 : 256;
        Assert.True(perIo < limit, $"{perIo} bytes allocated per {rw} (limit {limit}, optimized build: {optimized})");
    }
}

[CollectionDefinition("alone", DisableParallelization = true)]
public sealed class AloneCollection
{
}
