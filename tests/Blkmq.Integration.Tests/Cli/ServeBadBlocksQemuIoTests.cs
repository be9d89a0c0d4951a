using Blkmq.Integration.Tests.Cli.Interop;
using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests.Cli;

/// <summary>
/// Issue 10, defect 1, as it was reported: a memory disk served by <c>blkmq serve</c>, bad blocks added through
/// <c>blkmq ctl</c>, and qemu-io reading over NBD. A read of a bad block must fail with EIO in every irqmode; with
/// the default <c>irqmode=1</c> it once read 4096 bytes with no error, because the completion context lost the status.
/// </summary>
public sealed class ServeBadBlocksQemuIoTests
{
    /// <summary>Per test, so that a hung server or client fails its test instead of the suite.</summary>
    private const int TestTimeoutMilliseconds = 120_000;

    private static readonly TimeSpan s_toolTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan s_readyTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan s_exitTimeout = TimeSpan.FromSeconds(10);

    [Theory(Timeout = TestTimeoutMilliseconds)]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public async Task BadBlocksAddedThroughCtl_QemuIoReadOfThemFailsWithEio_AGoodRangeReads(int irqMode)
    {
        ExternalTool.Require("qemu-io");
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string control = Path.Combine(directory, "ctl.sock");
            await using CliProcess serve = BlkmqCli.Start(["serve", "--export", $"disk=memory:size=64M,irqmode={irqMode}", "--listen", "127.0.0.1:0", "--control", control]);
            string uri = (await serve.ReadLinesAsync(1, s_readyTimeout, TestContext.Current.CancellationToken))[0];

            ToolResult add = await BlkmqCli.RunAsync(["ctl", "--control", control, "badblocks", "disk", "add", "0-7"], s_toolTimeout, TestContext.Current.CancellationToken);
            Assert.True(add.ExitCode == 0, $"{add.CommandLine} exited {add.ExitCode}\n{add.StandardOutput}{add.StandardError}");

            // qemu-io reports a failed command on its output and exits 1.
            ToolResult bad = await ExternalTool.RunAsync("qemu-io", ["-f", "raw", "-c", "read 0 4k", uri], s_toolTimeout);
            string badOutput = bad.StandardOutput + bad.StandardError;
            Assert.True(bad.ExitCode != 0, $"a read of bad blocks succeeded (irqmode={irqMode}):\n{badOutput}\n{serve.Describe()}");
            Assert.Contains("read failed: Input/output error", badOutput, StringComparison.Ordinal);
            Assert.DoesNotContain("read 4096/4096 bytes", badOutput, StringComparison.Ordinal);

            ToolResult good = await ExternalTool.RunCheckedAsync("qemu-io", ["-f", "raw", "-c", "read -P 0 1M 4k", uri], s_toolTimeout);
            Assert.Contains("read 4096/4096 bytes at offset 1048576", good.StandardOutput, StringComparison.Ordinal);
            Assert.DoesNotContain("fail", good.StandardOutput + good.StandardError, StringComparison.OrdinalIgnoreCase);

            serve.Signal(Libc.SigTerm);
            Assert.Equal(0, await serve.WaitForExitAsync(s_exitTimeout, TestContext.Current.CancellationToken));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
