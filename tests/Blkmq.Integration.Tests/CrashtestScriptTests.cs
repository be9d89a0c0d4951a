using Blkmq.Integration.Tests.Cli;
using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests;

/// <summary>
/// <c>scripts/crashtest.sh</c>'s command line: <c>--help</c> prints the usage on stdout; a bad value, a missing one or
/// an unknown option is one line on stderr and exit status 2, before anything is set up; <c>--max-points 1</c> checks
/// the last flush point (it divided by zero, and then checked every point).
/// </summary>
public sealed class CrashtestScriptTests
{
    /// <summary>Each run is killed (by its pid) after this: no hang outlives its test.</summary>
    private static readonly TimeSpan s_usageTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan s_runTimeout = TimeSpan.FromSeconds(240);

    private static string Script => Path.Combine(BlkmqCli.RepositoryRoot, "scripts", "crashtest.sh");

    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    public async Task Help_UsageOnStdout_ExitsZero(string option)
    {
        ToolResult result = await ExternalTool.RunAsync("bash", [Script, "--sqlite", "3", option], s_usageTimeout);
        Assert.True(result.ExitCode == 0, $"exit {result.ExitCode}\n{result.StandardError}");
        Assert.Contains("scripts/crashtest.sh [--size 64M] [--workload FILE] [--sqlite N] [--max-points N]", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("--help prints this text.", result.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("#", result.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(string.Empty, result.StandardError);
    }

    [Theory]
    [InlineData("crashtest: --max-points 'x' is not a whole number from 0 to 999999999", "--max-points", "x")]
    [InlineData("crashtest: --max-points '1.5' is not a whole number", "--max-points", "1.5")]
    [InlineData("crashtest: --sqlite '-3' is not a whole number", "--sqlite", "-3")]
    [InlineData("crashtest: --explore '9999999999' is not a whole number", "--explore", "9999999999")]
    [InlineData("crashtest: --last '' is not a whole number", "--last", "")]
    [InlineData("crashtest: --max-points needs a value", "--max-points")]
    [InlineData("crashtest: --size needs a value", "--keep", "--size")]
    [InlineData("crashtest: --sqlite needs a value", "--sqlite", "--keep")]
    [InlineData("crashtest: --size '12Q' is not a size (such as 64M)", "--size", "12Q")]
    [InlineData("crashtest: --workload '/nonexistent-blkmq/w.sh' is not a file", "--workload", "/nonexistent-blkmq/w.sh")]
    [InlineData("crashtest: unknown option '--frobnicate'", "--frobnicate")]
    [InlineData("crashtest: unknown option 'extra'", "--broken", "extra")]
    public async Task BadArguments_OneLineOnStderr_ExitsTwo_BeforeAnySetup(string message, params string[] arguments)
    {
        ToolResult result = await ExternalTool.RunAsync("bash", [Script, .. arguments], s_usageTimeout);
        Assert.True(result.ExitCode == 2, $"{result.CommandLine} exited {result.ExitCode}\nstdout:\n{result.StandardOutput}\nstderr:\n{result.StandardError}");
        Assert.StartsWith(message, result.StandardError, StringComparison.Ordinal);
        Assert.EndsWith("(try --help)", result.StandardError.Trim(), StringComparison.Ordinal);
        Assert.Single(result.StandardError.Trim().Split('\n'));
        Assert.Equal(string.Empty, result.StandardOutput);
    }

    /// <summary>One point spread evenly over the flush points is the last one; the end of the log is checked as always.</summary>
    [Fact]
    public async Task MaxPointsOne_ChecksTheLastFlushPointAndTheEnd()
    {
        FuseRequirements.RequireRootWithFuse();
        ExternalTool.Require("losetup", "mkfs.ext4", "e2fsck", "debugfs", "mount");
        var environment = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["BLKMQ"] = BlkmqCli.AssemblyPath,
            ["PATH"] = Path.GetDirectoryName(BlkmqCli.DotnetPath) + ":/usr/bin:/bin:/usr/sbin:/sbin:" + Environment.GetEnvironmentVariable("PATH"),
        };
        ToolResult result = await ExternalTool.RunAsync("bash", [Script, "--size", "32M", "--max-points", "1"], s_runTimeout, environment: environment);
        Assert.True(result.ExitCode == 0, $"exit {result.ExitCode}\nstdout:\n{result.StandardOutput}\nstderr:\n{result.StandardError}");
        Assert.DoesNotContain("division by 0", result.StandardError, StringComparison.Ordinal);
        Assert.Matches(@"crashtest: ext4 32M, \d+ flush points, checked 2 \(from flush point \d+ and the end\), 0 unclean", result.StandardOutput);
    }
}
