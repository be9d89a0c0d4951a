using Blkmq.Integration.Tests.Cli;
using Blkmq.Integration.Tests.Cli.Interop;
using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests.Rbd;

/// <summary>
/// The cluster's only OSD stops while a client writes through <c>blkmq serve</c> (bluestore, so the OSD comes back
/// with its data): with the default <c>op_timeout=0</c> librados holds the writes until the OSD returns, the client's
/// writes then complete, and the server serves on, with the data in the image as the cluster's <c>rbd export</c> reads it.
/// </summary>
[Collection("heavy")]
public sealed class RbdOsdRestartTests(BluestoreCephCluster cluster) : IClassFixture<BluestoreCephCluster>
{
    private const int TestTimeoutMilliseconds = 240_000;
    private static readonly TimeSpan s_toolTimeout = TimeSpan.FromSeconds(150);
    private static readonly TimeSpan s_readyTimeout = TimeSpan.FromSeconds(45);

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task OsdStoppedDuringWrites_WritesWaitAndComplete_ServerServesOn_ExportMatches()
    {
        cluster.Require();
        ExternalTool.Require("qemu-io");
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string exported = Path.Combine(directory, "exported.raw");
            await using CliProcess serve = BlkmqCli.Start(["serve", "--listen", "127.0.0.1:0", "--export", $"vm=rbd:image=restart,create=8M,conf={cluster.Conf}"]);
            string uri = (await serve.ReadLinesAsync(1, s_readyTimeout, TestContext.Current.CancellationToken))[0];
            await ExternalTool.RunCheckedAsync("qemu-io", ["-f", "raw", "-c", "write -P 0x11 0 8M", "-c", "flush", uri], s_toolTimeout);

            await cluster.ScriptAsync("stop-osd", "TERM");
            Task<ToolResult> writes = ExternalTool.RunAsync("qemu-io", ["-f", "raw", "-c", "write -P 0x55 1M 2M", "-c", "flush", uri], s_toolTimeout);
            await Task.Delay(TimeSpan.FromSeconds(2), TestContext.Current.CancellationToken);
            await cluster.ScriptAsync("start-osd");

            ToolResult result = await writes;
            Assert.True(result.ExitCode == 0 && !result.StandardOutput.Contains("failed", StringComparison.Ordinal), $"writes across the OSD restart: {result.StandardOutput}{result.StandardError}\n{serve.Describe()}");
            await ExternalTool.RunCheckedAsync("qemu-io", ["-f", "raw", "-r", "-c", "read -P 0x11 0 1M", "-c", "read -P 0x55 1M 2M", "-c", "read -P 0x11 3M 5M", uri], s_toolTimeout);

            serve.Signal(Libc.SigTerm);
            Assert.Equal(0, await serve.WaitForExitAsync(TimeSpan.FromSeconds(20), TestContext.Current.CancellationToken));
            await cluster.RbdAsync("export", "rbd/restart", exported);
            byte[] data = await System.IO.File.ReadAllBytesAsync(exported, TestContext.Current.CancellationToken);
            Assert.Equal(8 << 20, data.Length);
            Assert.True(data.AsSpan(0, 1 << 20).IndexOfAnyExcept((byte)0x11) < 0, "the first MiB is as first written");
            Assert.True(data.AsSpan(1 << 20, 2 << 20).IndexOfAnyExcept((byte)0x55) < 0, "the writes made while the OSD was down are in the image");
            Assert.True(data.AsSpan(3 << 20).IndexOfAnyExcept((byte)0x11) < 0, "the rest is as first written");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
