using Blkmq.Integration.Tests.Cli;
using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests.Filters;

/// <summary><c>blkmq ctl filters EXPORT</c> against a running server: the stack and what its filters report.</summary>
public sealed class FilterControlTests
{
    private const int TestTimeoutMilliseconds = 120_000;

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task CtlFilters_ShowsTheStackAndTheStatsOfWhatAClientDid()
    {
        ExternalTool.Require("qemu-io");
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string control = Path.Combine(directory, "ctl.sock");
            (CliProcess serve, string uri) = await FilterServe.StartAsync("d=memory:size=8M|stats|pass", TestContext.Current.CancellationToken, "--export", "plain=memory:size=1M", "--control", control);
            await using (serve)
            {
                await ExternalTool.RunCheckedAsync("qemu-io", ["-f", "raw", "-c", "write -P 7 0 64k", "-c", "read -P 7 0 64k", uri], FilterServe.ToolTimeout);
                ToolResult filters = await BlkmqCli.RunAsync(["ctl", "--control", control, "filters", "d"], FilterServe.ToolTimeout, TestContext.Current.CancellationToken);
                Assert.True(filters.ExitCode == 0, filters.StandardError);
                string line = filters.StandardOutput.Trim();
                Assert.StartsWith("ok memory|stats|pass; stats: elapsed ", line, StringComparison.Ordinal);
                Assert.Contains("; write: 1 ops, 65536 bytes, 0 errors", line, StringComparison.Ordinal);
                Assert.DoesNotContain('\n', line);

                // No filter, nothing to report: the stack alone, no dangling separator.
                ToolResult plain = await BlkmqCli.RunAsync(["ctl", "--control", control, "filters", "plain"], FilterServe.ToolTimeout, TestContext.Current.CancellationToken);
                Assert.Equal("ok memory", plain.StandardOutput.Trim());

                ToolResult unknown = await BlkmqCli.RunAsync(["ctl", "--control", control, "filters", "nope"], FilterServe.ToolTimeout, TestContext.Current.CancellationToken);
                Assert.NotEqual(0, unknown.ExitCode);
                Assert.Contains("unknown export 'nope'", unknown.StandardError, StringComparison.Ordinal);
                await FilterServe.StopAsync(serve);
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
