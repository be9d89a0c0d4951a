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

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task CtlMark_TwoLoggedExports_NeedsTheExport_AndAUniqueNonEmptyName()
    {
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string control = Path.Combine(directory, "ctl.sock");
            string logA = Path.Combine(directory, "a.log");
            string logB = Path.Combine(directory, "b.log");
            (CliProcess serve, _) = await FilterServe.StartAsync($"a=memory:size=1M|log-writes:file={logA}", TestContext.Current.CancellationToken, "--export", $"b=memory:size=1M|log-writes:file={logB}", "--control", control);
            await using (serve)
            {
                // Which log is meant is not for the server to guess.
                ToolResult ambiguous = await CtlAsync(control, "mark", "m1");
                Assert.Equal(1, ambiguous.ExitCode);
                Assert.Equal("error ambiguous: exports a, b have log-writes; name one (mark EXPORT m1)", ambiguous.StandardError.Trim());

                // An empty name is refused by ctl itself; a name left out is not the export's name.
                ToolResult empty = await CtlAsync(control, "mark", "a", string.Empty);
                Assert.Equal(2, empty.ExitCode);
                Assert.Equal("blkmq ctl: argument 3 of 'mark a ' is empty; give a value.", empty.StandardError.Trim());
                ToolResult missing = await CtlAsync(control, "mark", "a");
                Assert.Equal(1, missing.ExitCode);
                Assert.Equal("error mark a: 'a' is an export; give the mark's name (mark a NAME)", missing.StandardError.Trim());

                ToolResult first = await CtlAsync(control, "mark", "a", "m1");
                Assert.True(first.ExitCode == 0, first.StandardError);
                Assert.Equal("ok a mark m1 entry=1", first.StandardOutput.Trim());
                ToolResult again = await CtlAsync(control, "mark", "a", "m1");
                Assert.Equal(1, again.ExitCode);
                Assert.Equal("error mark 'm1' already exists in this log", again.StandardError.Trim());

                // The same name in another export's log is another mark.
                ToolResult other = await CtlAsync(control, "mark", "b", "m1");
                Assert.Equal("ok b mark m1 entry=1", other.StandardOutput.Trim());
                await FilterServe.StopAsync(serve);
            }

            ToolResult list = await BlkmqCli.RunAsync(["replay", logA, "--list"], FilterServe.ToolTimeout, TestContext.Current.CancellationToken);
            Assert.Equal(0, list.ExitCode);
            Assert.Equal(["mark m1 entry=1 after-flush-points=0", "entries=1 writes=0 write-zeroes=0 discards=0 flush-points=0 capacity=1048576 block-size=512"], list.StandardOutput.Trim().Split('\n'));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static Task<ToolResult> CtlAsync(string control, params string[] command) =>
        BlkmqCli.RunAsync(["ctl", "--control", control, .. command], FilterServe.ToolTimeout, TestContext.Current.CancellationToken);
}
