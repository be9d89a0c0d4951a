using Blkmq.Integration.Tests.Cli;
using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests.Filters;

/// <summary><c>blkmq serve --run</c>: the command sees the export, the server stops when it exits, its status is ours.</summary>
public sealed class CaptiveModeTests
{
    private const int TestTimeoutMilliseconds = 120_000;

    [Theory(Timeout = TestTimeoutMilliseconds)]
    [InlineData("false", 1)]
    [InlineData("true", 0)]
    [InlineData("exit 7", 7)]
    public async Task Run_ExitStatusPropagates_AndTheServerStops(string command, int expected)
    {
        ToolResult result = await BlkmqCli.RunAsync(["serve", "--export", "d=memory:size=1M", "--listen", "127.0.0.1:0", "--run", command], FilterServe.ToolTimeout, TestContext.Current.CancellationToken);
        Assert.True(result.ExitCode == expected, $"exit {result.ExitCode}, expected {expected}\n{result.StandardError}");
        BlkmqCli.AssertNoStackTrace(result);
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Run_VariablesNameTheExport_NbdcopyReadsIt()
    {
        ExternalTool.Require("nbdcopy");
        ToolResult result = await BlkmqCli.RunAsync(
            ["serve", "--export", "vm=memory:size=3M|stats", "--listen", "127.0.0.1:0", "--run", "echo \"port=$port export=$export uri=$uri nbd=$nbd\" && nbdcopy --no-extents \"$uri\" - | wc -c"],
            FilterServe.ToolTimeout,
            TestContext.Current.CancellationToken);
        Assert.True(result.ExitCode == 0, result.StandardOutput + result.StandardError);
        // Under --run stdout is the command's alone (the URI goes to stderr), so a pipe of nbdcopy carries only the disk.
        string uri = result.StandardError.Split('\n').Select(static l => l.Trim()).Single(static l => l.StartsWith("nbd://", StringComparison.Ordinal));
        int port = new Uri(uri).Port;
        Assert.Equal([$"port={port} export=vm uri=nbd://127.0.0.1:{port}/vm nbd=nbd:127.0.0.1:{port}:exportname=vm", "3145728"], result.StandardOutput.Trim().Split('\n'));

        // The stats filter reports on exit (stderr): nbdinfo's reads were counted.
        Assert.Contains("vm: read: ", result.StandardError, StringComparison.Ordinal);
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Run_PrivateUnixSocket_ServesTheCommand_AndIsRemovedAfter()
    {
        ExternalTool.Require("nbdinfo");
        ToolResult result = await BlkmqCli.RunAsync(
            ["serve", "--export", "d=memory:size=2M", "--listen", "unix:-", "--run", "echo \"sock=$unixsocket\" && test -S \"$unixsocket\" && nbdinfo --size \"$uri\""],
            FilterServe.ToolTimeout,
            TestContext.Current.CancellationToken);
        Assert.True(result.ExitCode == 0, result.StandardOutput + result.StandardError);
        Assert.Contains("2097152", result.StandardOutput, StringComparison.Ordinal);
        string socket = result.StandardOutput.Split('\n').Single(static l => l.StartsWith("sock=", StringComparison.Ordinal))["sock=".Length..].Trim();
        Assert.StartsWith(Path.GetTempPath().TrimEnd('/'), socket, StringComparison.Ordinal);
        Assert.False(File.Exists(socket));
        Assert.False(Directory.Exists(Path.GetDirectoryName(socket)));
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Run_UnixAndTcpListeners_SetBothUnixsocketAndPort()
    {
        ExternalTool.Require("nbdinfo");
        ToolResult result = await BlkmqCli.RunAsync(
            ["serve", "--export", "d=memory:size=2M", "--listen", "unix:-", "--listen", "127.0.0.1:0", "--run", "nbdinfo --size \"nbd://127.0.0.1:$port/d\" && nbdinfo --size \"nbd+unix:///d?socket=$unixsocket\""],
            FilterServe.ToolTimeout,
            TestContext.Current.CancellationToken);
        Assert.True(result.ExitCode == 0, result.StandardOutput + result.StandardError);
        Assert.Equal(["2097152", "2097152"], result.StandardOutput.Trim().Split('\n'));
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Run_PrivateSocket_InAMissingTmpdir_IsOneLineNamingIt()
    {
        await using CliProcess serve = CliProcess.Start(
            "env",
            ["TMPDIR=/nonexistent-blkmq-tmp", BlkmqCli.DotnetPath, BlkmqCli.AssemblyPath, "serve", "--export", "d=memory:size=2M", "--listen", "unix:-", "--run", "true"]);
        Assert.Equal(1, await serve.WaitForExitAsync(FilterServe.ToolTimeout, TestContext.Current.CancellationToken));
        Assert.Contains("blkmq serve: --listen unix:-: cannot make a private directory in /nonexistent-blkmq-tmp/ (TMPDIR)", serve.StandardError, StringComparison.Ordinal);
    }

    [Theory(Timeout = TestTimeoutMilliseconds)]
    [InlineData("d=memory|bogus", "blkmq serve: --export 'd=memory|bogus': unknown filter 'bogus' (known: ")]
    [InlineData("d=memory||cow", "blkmq serve: --export 'd=memory||cow': stack 'memory||cow': empty filter after '|' number 1.")]
    [InlineData("d=cow|memory", "blkmq serve: --export 'd=cow|memory': stack 'cow|memory': 'cow' is a filter")]
    [InlineData("d=memory|error:error=EWHAT", "blkmq serve: --export 'd=memory|error:error=EWHAT': filter 'error': error=EWHAT is not one of EIO")]
    public async Task BadStack_RefusedInOneLine_Exit2(string export, string message)
    {
        ToolResult result = await BlkmqCli.RunAsync(["serve", "--export", export, "--listen", "127.0.0.1:0", "--run", "true"], FilterServe.ToolTimeout, TestContext.Current.CancellationToken);
        Assert.Equal(2, result.ExitCode);
        // Log lines of disks made and removed before the bad layer was reached may precede it; the error is one line.
        string[] lines = [.. result.StandardError.Trim().Split('\n').Where(static l => l.StartsWith("blkmq serve:", StringComparison.Ordinal))];
        Assert.Single(lines);
        Assert.StartsWith(message, lines[0], StringComparison.Ordinal);
        BlkmqCli.AssertNoStackTrace(result);
    }
}
