using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests.Cli;

/// <summary>
/// What <c>blkmq</c> says when the user gets something wrong: one line in the user's terms, never the .NET text
/// ("(Parameter 'Size')", "Arithmetic operation resulted in an overflow", a CLR type name, "Cannot assign requested
/// address" for a missing directory); a mistyped option is an unknown option; ctl names why a filtered export has no
/// null_blk controls.
/// </summary>
public sealed class CliMessageTests
{
    private const int TestTimeoutMilliseconds = 120_000;

    private static readonly TimeSpan s_toolTimeout = TimeSpan.FromSeconds(60);

    [Theory(Timeout = TestTimeoutMilliseconds)]
    [InlineData("x=memory:size=0", "blkmq serve: --export 'x=memory:size=0': size must be a positive multiple of bs (512).")]
    [InlineData("x=memory:size=100P", "blkmq serve: --export 'x=memory:size=100P': size=100P is too large for a memory-backed disk (at most 256T).")]
    [InlineData("x=memory:size=1E", "blkmq serve: --export 'x=memory:size=1E': size=1E is too large for a memory-backed disk (at most 256T).")]
    [InlineData("x=memory:name=", "blkmq serve: --export 'x=memory:name=': name must not be empty.")]
    [InlineData("x=file:path=raw.img,queues=0", "blkmq serve: --export 'x=file:path=raw.img,queues=0': file: queues must be 1 to 64.")]
    [InlineData("x=file:path=raw.img,timeout=0", "blkmq serve: --export 'x=file:path=raw.img,timeout=0': file: timeout must be 1 to 3600 seconds.")]
    [InlineData("x=file:path=", "blkmq serve: --export 'x=file:path=': file: path=FILE is required.")]
    public async Task BadExportValue_OneLine_WithoutDotNetText(string export, string message)
    {
        ToolResult result = await BlkmqCli.RunAsync(["serve", "--export", export, "--listen", "127.0.0.1:0"], s_toolTimeout, TestContext.Current.CancellationToken);
        Assert.Equal(2, result.ExitCode);
        Assert.Equal(message, result.StandardError.Trim());
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task SocketInAMissingDirectory_SaysTheDirectoryDoesNotExist()
    {
        string missing = Path.Combine(Path.GetTempPath(), "blkmq-missing-" + Guid.NewGuid().ToString("N"));
        ToolResult result = await BlkmqCli.RunAsync(["serve", "--export", "m=memory:size=1M", "--listen", $"unix:{missing}/x.sock"], s_toolTimeout, TestContext.Current.CancellationToken);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains($"blkmq serve: cannot listen on unix:{missing}/x.sock: the directory {missing} does not exist", result.StandardError, StringComparison.Ordinal);

        result = await BlkmqCli.RunAsync(["serve", "--export", "m=memory:size=1M", "--listen", "127.0.0.1:0", "--control", $"{missing}/c.sock"], s_toolTimeout, TestContext.Current.CancellationToken);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains($"blkmq serve: --control {missing}/c.sock: the directory {missing} does not exist", result.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain("Cannot assign requested address", result.StandardError, StringComparison.Ordinal);
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Replay_OutputIsADirectory_AndCrashNotAnInteger_SaySo()
    {
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string log = Path.Combine(directory, "d.log");
            ToolResult result = await BlkmqCli.RunAsync(["replay", log, "--output", directory], s_toolTimeout, TestContext.Current.CancellationToken);
            Assert.Equal(2, result.ExitCode);
            Assert.Equal($"blkmq replay: --output {directory} is a directory; give the image file to write.", result.StandardError.Trim());

            result = await BlkmqCli.RunAsync(["replay", log, "--output", Path.Combine(directory, "x.img"), "--crash", "abc"], s_toolTimeout, TestContext.Current.CancellationToken);
            Assert.Equal(2, result.ExitCode);
            Assert.StartsWith("blkmq replay: --crash: 'abc' is not an integer.", result.StandardError, StringComparison.Ordinal);
            Assert.DoesNotContain("System.", result.StandardError, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task MistypedOption_IsAnUnknownOption_NotAFile()
    {
        ToolResult result = await BlkmqCli.RunAsync(["serve", "--exprot", "x=memory"], s_toolTimeout, TestContext.Current.CancellationToken);
        Assert.Equal(2, result.ExitCode);
        Assert.Equal(string.Empty, result.StandardOutput);
        Assert.StartsWith("blkmq serve: unknown option '--exprot'", result.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain("no such file", result.StandardError, StringComparison.Ordinal);
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Ctl_FilteredExport_ListedAndNamedAsNotANullDisk()
    {
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string control = Path.Combine(directory, "c.sock");
            await using CliProcess serve = BlkmqCli.Start(
                ["serve", "--export", "m=memory:size=1M", "--export", "md=memory:size=1M|delay:read=1ms", "--listen", "127.0.0.1:0", "--control", control]);
            await serve.ReadLinesAsync(2, TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

            ToolResult list = await BlkmqCli.RunAsync(["ctl", "--control", control, "list"], s_toolTimeout, TestContext.Current.CancellationToken);
            Assert.Equal(0, list.ExitCode);
            Assert.StartsWith("ok 2 export(s); m disk=m0 ", list.StandardOutput, StringComparison.Ordinal);
            Assert.Contains("; md memory|delay (no null_blk controls)", list.StandardOutput, StringComparison.Ordinal);

            ToolResult power = await BlkmqCli.RunAsync(["ctl", "--control", control, "power", "md", "off"], s_toolTimeout, TestContext.Current.CancellationToken);
            Assert.Equal(1, power.ExitCode);
            Assert.Equal(
                "error export 'md' is not a null/memory disk at the top of its stack (it is memory|delay): power, badblocks, powercut and stats need one.",
                power.StandardError.Trim());

            ToolResult unknown = await BlkmqCli.RunAsync(["ctl", "--control", control, "power", "nope", "off"], s_toolTimeout, TestContext.Current.CancellationToken);
            Assert.Equal("error unknown export 'nope'.", unknown.StandardError.Trim());
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
