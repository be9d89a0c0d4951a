using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests.Cli;

/// <summary>
/// <c>blkmq drivers</c> run as a process: every registered driver with its parameters and defaults, one driver on
/// its own, an unknown name, and the help of <c>serve --export</c> and <c>bench --driver</c> pointing at it.
/// </summary>
public sealed class DriversCommandTests
{
    private const int TestTimeoutMilliseconds = 60_000;

    private static readonly TimeSpan s_runTimeout = TimeSpan.FromSeconds(30);

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Drivers_ListsNullAndMemory_WithTheirParametersAndDefaults()
    {
        ToolResult result = await RunAsync(["drivers"], TestContext.Current.CancellationToken);
        Assert.True(result.ExitCode == 0, result.StandardError);
        string output = result.StandardOutput;
        Assert.Contains("\nmemory: ", output, StringComparison.Ordinal);
        Assert.Contains("\nnull: ", output, StringComparison.Ordinal);

        string memory = Section(output, "memory");
        string nullDriver = Section(output, "null");
        Assert.Contains("  size=1G ", memory, StringComparison.Ordinal);
        Assert.Contains("  memory_backed=1 ", memory, StringComparison.Ordinal);
        Assert.Contains("  discard=1 ", memory, StringComparison.Ordinal);
        Assert.Contains("  size=250G ", nullDriver, StringComparison.Ordinal);
        Assert.Contains("  memory_backed=0 ", nullDriver, StringComparison.Ordinal);
        Assert.Contains("  irqmode=1 ", nullDriver, StringComparison.Ordinal);
        Assert.Contains("completion_nsec=10000", nullDriver, StringComparison.Ordinal);

        // A default longer than the column still leaves space before its description.
        Assert.Matches(@"\n  zone_append_max_sectors=2147483647 +\S", nullDriver);
        Assert.Equal(string.Empty, result.StandardError);
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Drivers_OneName_ShowsOnlyThatDriver()
    {
        ToolResult result = await RunAsync(["drivers", "memory"], TestContext.Current.CancellationToken);
        Assert.True(result.ExitCode == 0, result.StandardError);
        Assert.StartsWith("memory: ", result.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("\nnull: ", result.StandardOutput, StringComparison.Ordinal);
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Drivers_AFilterName_ShowsThatFilter()
    {
        ToolResult result = await RunAsync(["drivers", "cow"], TestContext.Current.CancellationToken);
        Assert.True(result.ExitCode == 0, result.StandardError);
        Assert.StartsWith("cow: (a filter) ", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("keep=", result.StandardOutput, StringComparison.Ordinal);
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Drivers_UnknownName_ExitsTwo_ListingTheKnownOnes()
    {
        ToolResult result = await RunAsync(["drivers", "floppy"], TestContext.Current.CancellationToken);
        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith("blkmq drivers: unknown driver or filter 'floppy' (drivers: file, memory, null, rbd; filters: ", result.StandardError.Trim(), StringComparison.Ordinal);
        Assert.Contains("cow", result.StandardError, StringComparison.Ordinal);
        Assert.Equal(string.Empty, result.StandardOutput);
        BlkmqCli.AssertNoStackTrace(result);
    }

    [Theory(Timeout = TestTimeoutMilliseconds)]
    [InlineData("serve", "--export")]
    [InlineData("bench", "--driver")]
    public async Task Help_OfTheDriverOption_NamesTheDriversAndTheCommand(string command, string option)
    {
        ToolResult result = await RunAsync([command, "--help"], TestContext.Current.CancellationToken);
        Assert.True(result.ExitCode == 0, result.StandardError);
        string line = result.StandardOutput.Split('\n').Single(l => l.TrimStart().StartsWith(option + " ", StringComparison.Ordinal));
        Assert.Contains("memory, null", line, StringComparison.Ordinal);
        Assert.Contains("'blkmq drivers'", line, StringComparison.Ordinal);
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task RootHelp_ListsTheDriversCommand()
    {
        ToolResult result = await RunAsync(["--help"], TestContext.Current.CancellationToken);
        Assert.True(result.ExitCode == 0, result.StandardError);
        Assert.Matches(@"(?m)^\s+drivers\s", result.StandardOutput);
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Bench_DriverWithParameters_ReportsThem()
    {
        ToolResult result = await RunAsync(["bench", "--driver", "memory:size=64M,bs=4096", "--size", "16M", "--ios", "1000", "--json"], TestContext.Current.CancellationToken);
        Assert.True(result.ExitCode == 0, result.StandardError);
        Assert.Contains("\"driver\": \"memory\"", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("bs=4096,size=67108864,memory_backed=1,discard=1", result.StandardOutput, StringComparison.Ordinal);
    }

    private static Task<ToolResult> RunAsync(string[] arguments, CancellationToken cancellationToken) =>
        BlkmqCli.RunAsync(arguments, s_runTimeout, cancellationToken);

    /// <summary>The lines of one driver: from its heading to the next blank line.</summary>
    private static string Section(string output, string driver)
    {
        int start = output.IndexOf("\n" + driver + ": ", StringComparison.Ordinal);
        Assert.True(start >= 0, output);
        int end = output.IndexOf("\n\n", start + 1, StringComparison.Ordinal);
        return end < 0 ? output[start..] : output[start..end];
    }
}
