using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests;

/// <summary>fio's nbd engine: concurrent random writes verified with crc32c, two jobs (two connections) at depth 32.</summary>
[Collection("heavy")]
public sealed class FioTests
{
    [Fact]
    public async Task Fio_RandWriteVerifyCrc32c_Depth32_TwoJobs()
    {
        ExternalTool.Require("fio");
        await using NbdTestServer server = await NbdTestServer.StartAsync("memory_backed=1,discard=1,size=128M,bs=512,irqmode=1,submit_queues=2,hw_queue_depth=128");
        ToolResult probe = await ExternalTool.RunAsync("fio", ["--enghelp=nbd"], TimeSpan.FromSeconds(30));
        if (!probe.StandardOutput.Contains("uri", StringComparison.Ordinal))
        {
            string message = "this fio has no nbd engine";
            if (ExternalTool.IsCi)
            {
                Assert.Fail(message);
            }

            Assert.Skip(message);
        }

        ToolResult result = await ExternalTool.RunCheckedAsync(
            "fio",
            [
                "--name=nbd-verify",
                "--ioengine=nbd",
                "--uri=" + server.Uri(),
                "--rw=randwrite",
                "--bs=4k",
                "--iodepth=32",
                "--numjobs=2",
                "--size=32m",
                "--offset_increment=32m",
                "--verify=crc32c",
                "--do_verify=1",
                "--verify_fatal=1",
                "--group_reporting",
            ],
            TimeSpan.FromMinutes(3));
        Assert.DoesNotContain("verify:", result.StandardError, StringComparison.Ordinal);
        Assert.Contains("nbd-verify", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("err= 0", result.StandardOutput, StringComparison.Ordinal);
        await server.WaitForNoConnectionsAsync();
    }
}
