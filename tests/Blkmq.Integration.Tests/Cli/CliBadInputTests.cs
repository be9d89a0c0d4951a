using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests.Cli;

/// <summary>
/// Inputs README does not show, each refused in one line with exit 2 (usage) or 1 (the system refused): a value not
/// among an option's choices, an unknown option where a command takes free words (ctl, stat, drivers, replay), an empty
/// export, a directory for a log, a mark on an export that does not exist, a --control or --listen unix: path that holds
/// a regular file (left alone, not deleted as a stale socket), --metrics checked before any disk is made.
/// </summary>
public sealed class CliBadInputTests
{
    private const int TestTimeoutMilliseconds = 120_000;

    private static readonly TimeSpan s_toolTimeout = TimeSpan.FromSeconds(60);

    [Theory(Timeout = TestTimeoutMilliseconds)]
    [InlineData("blkmq bench: --rw: 'sideways' is not one of read, write, randread, randwrite, randrw.", "bench", "--rw", "sideways")]
    [InlineData("blkmq bench: --output-format: 'xml' is not one of normal, json, terse.", "bench", "--output-format", "xml")]
    [InlineData("blkmq serve: --tls: 'maybe' is not one of off, on, require.", "serve", "--tls", "maybe")]
    [InlineData("blkmq serve: --metrics-latency: 'all' is not one of sampled, every.", "serve", "--metrics-latency", "all")]
    public async Task ValueNotAmongChoices_OneLineNamingTheOption(string message, params string[] arguments)
    {
        ToolResult result = await BlkmqCli.RunAsync(arguments, s_toolTimeout, TestContext.Current.CancellationToken);
        Assert.Equal(2, result.ExitCode);
        string[] lines = result.StandardError.TrimEnd().Split('\n');
        Assert.Equal([message, $"Try 'blkmq {arguments[0]} --help'."], lines);
    }

    [Theory(Timeout = TestTimeoutMilliseconds)]
    [InlineData("ctl", "--control", "/nonexistent/c.sock", "--bogus", "list")]
    [InlineData("ctl", "--control", "/nonexistent/c.sock", "list", "--bogus")]
    [InlineData("stat", "--control", "/nonexistent/c.sock", "--bogus")]
    [InlineData("drivers", "--bogus")]
    [InlineData("replay", "--bogus", "--list")]
    public async Task UnknownOption_WhereFreeWordsAreTaken_IsAnUnknownOption(params string[] arguments)
    {
        ToolResult result = await BlkmqCli.RunAsync(arguments, s_toolTimeout, TestContext.Current.CancellationToken);
        Assert.Equal(2, result.ExitCode);
        Assert.Equal($"blkmq {arguments[0]}: unknown option '--bogus'.", result.StandardError.Split('\n')[0]);
        Assert.Equal(string.Empty, result.StandardOutput);
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Replay_LogIsADirectory_SaysSo()
    {
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            ToolResult result = await BlkmqCli.RunAsync(["replay", directory, "--list"], s_toolTimeout, TestContext.Current.CancellationToken);
            Assert.Equal(2, result.ExitCode);
            Assert.Equal($"blkmq replay: {directory} is a directory; give the log file (log-writes:file=LOG).", result.StandardError.Trim());
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Serve_ControlOrListenPathIsARegularFile_Refused_FileKept()
    {
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            // Empty, as a socket file is: the stale-socket probe took it for one and deleted it.
            string file = Path.Combine(directory, "placeholder");
            await File.WriteAllBytesAsync(file, [], TestContext.Current.CancellationToken);

            ToolResult control = await BlkmqCli.RunAsync(["serve", "--export", "m=memory:size=1M", "--listen", "127.0.0.1:0", "--control", file], s_toolTimeout, TestContext.Current.CancellationToken);
            Assert.Equal(1, control.ExitCode);
            Assert.Equal($"blkmq serve: --control {file}: a regular file is there, not a socket; give a path that is free or holds a socket (it is left alone).", control.StandardError.Trim());
            Assert.True(File.Exists(file), "--control deleted the regular file");

            ToolResult listen = await BlkmqCli.RunAsync(["serve", "--export", "m=memory:size=1M", "--listen", "unix:" + file], s_toolTimeout, TestContext.Current.CancellationToken);
            Assert.Equal(1, listen.ExitCode);
            Assert.Equal($"blkmq serve: --listen unix:{file}: a regular file is there, not a socket; give a path that is free or holds a socket (it is left alone).", listen.StandardError.Trim());
            Assert.True(File.Exists(file), "--listen unix: deleted the regular file");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Serve_BadMetricsAddress_RefusedBeforeAnyDiskOrFileIsMade()
    {
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string image = Path.Combine(directory, "new.img");
            ToolResult result = await BlkmqCli.RunAsync(
                ["serve", "--export", $"x=file:path={image},create=1M", "--metrics", "foo", "--listen", "127.0.0.1:0"], s_toolTimeout, TestContext.Current.CancellationToken);
            Assert.Equal(2, result.ExitCode);

            // Only the error: no disk added, no file created and removed again.
            Assert.Equal("blkmq serve: --metrics 'foo': expected HOST:PORT, as 127.0.0.1:9464 or [::1]:9464.", result.StandardError.Trim());
            Assert.False(File.Exists(image));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Ctl_MarkOnAMissingExport_AndStatOfAnEmptyExport_SaySo()
    {
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string control = Path.Combine(directory, "c.sock");
            await using CliProcess serve = BlkmqCli.Start(["serve", "--export", "m=memory:size=1M|log-writes:file=" + Path.Combine(directory, "m.log"), "--listen", "127.0.0.1:0", "--control", control]);
            await serve.ReadLinesAsync(1, TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

            ToolResult mark = await BlkmqCli.RunAsync(["ctl", "--control", control, "mark", "nope", "one"], s_toolTimeout, TestContext.Current.CancellationToken);
            Assert.Equal(1, mark.ExitCode);
            Assert.Equal("error unknown export 'nope'.", mark.StandardError.Trim());

            ToolResult good = await BlkmqCli.RunAsync(["ctl", "--control", control, "mark", "m", "one"], s_toolTimeout, TestContext.Current.CancellationToken);
            Assert.Equal(0, good.ExitCode);
            Assert.StartsWith("ok m mark one entry=", good.StandardOutput, StringComparison.Ordinal);

            ToolResult stat = await BlkmqCli.RunAsync(["stat", "--control", control, ""], s_toolTimeout, TestContext.Current.CancellationToken);
            Assert.Equal(2, stat.ExitCode);
            Assert.Equal("blkmq stat: EXPORT is empty; give an export's name, or leave it out for all.", stat.StandardError.Trim());
            Assert.Equal(string.Empty, stat.StandardOutput);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
