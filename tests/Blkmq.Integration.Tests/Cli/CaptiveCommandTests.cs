using System.Net.Sockets;
using Blkmq.Integration.Tests.Cli.Interop;
using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests.Cli;

/// <summary>
/// <c>blkmq serve --run</c> on IPv6 (<c>$nbd</c> and <c>$uri</c> bracket the address; <c>[::]</c> serves the
/// <c>localhost</c> URI it prints), with TLS (<c>$uri</c> is <c>nbds://</c> when TLS is required, <c>$tls</c> the mode) and
/// stopped by SIGTERM (the captive command gets SIGTERM and time to clean up).
/// </summary>
public sealed class CaptiveCommandTests
{
    private const int TestTimeoutMilliseconds = 120_000;

    private static readonly TimeSpan s_toolTimeout = TimeSpan.FromSeconds(60);

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Ipv6Loopback_NbdAndUri_BracketTheAddress_QemuIoAndNbdinfoConnect()
    {
        ExternalTool.Require("qemu-io", "nbdinfo");
        RequireIpv6Loopback();
        ToolResult result = await BlkmqCli.RunAsync(
            ["serve", "--export", "m=memory:size=1M", "--listen", "[::1]:0", "--run", "echo \"nbd=$nbd uri=$uri\" && qemu-io -f raw -c \"read 0 4k\" \"$nbd\" && nbdinfo --size \"$uri\""],
            s_toolTimeout,
            TestContext.Current.CancellationToken);
        Assert.True(result.ExitCode == 0, $"exit {result.ExitCode}\n{result.StandardOutput}\n{result.StandardError}");
        string printed = result.StandardError.Split('\n').Select(static l => l.Trim()).Single(static l => l.StartsWith("nbd://", StringComparison.Ordinal));
        Assert.Matches(@"^nbd://\[::1\]:\d+/m$", printed);
        int port = new Uri(printed).Port;
        Assert.Contains($"nbd=nbd:[::1]:{port}:exportname=m uri=nbd://[::1]:{port}/m", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("read 4096/4096 bytes at offset 0", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("1048576", result.StandardOutput, StringComparison.Ordinal);
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Ipv6Any_PrintsLocalhost_WhichServesOverIpv4AndIpv6()
    {
        ExternalTool.Require("nbdinfo");
        RequireIpv6Loopback();
        ToolResult result = await BlkmqCli.RunAsync(
            ["serve", "--export", "m=memory:size=1M", "--listen", "[::]:0", "--run", "nbdinfo --size \"$uri\" && nbdinfo --size \"nbd://127.0.0.1:$port/m\" && nbdinfo --size \"nbd://[::1]:$port/m\""],
            s_toolTimeout,
            TestContext.Current.CancellationToken);
        Assert.True(result.ExitCode == 0, $"exit {result.ExitCode}\n{result.StandardOutput}\n{result.StandardError}");
        Assert.Matches(@"(?m)^nbd://localhost:\d+/m$", result.StandardError);
        Assert.Equal(["1048576", "1048576", "1048576"], result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Tls_UriIsNbdsWhenRequired_TlsTellsTheMode_NbdinfoConnectsWithTheUri()
    {
        ExternalTool.Require("nbdinfo");
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            (string certificate, string key) = TestCertificates.Create(directory);
            string[] tls = ["--tls-certificate", certificate, "--tls-key", key];
            ToolResult required = await BlkmqCli.RunAsync(
                ["serve", "--export", "m=memory:size=1M", "--listen", "127.0.0.1:0", "--tls", "require", .. tls,
                 "--run", $"echo \"uri=$uri tls=$tls\" && nbdinfo --size \"$uri?tls-certificates={directory}\""],
                s_toolTimeout,
                TestContext.Current.CancellationToken);
            Assert.True(required.ExitCode == 0, $"exit {required.ExitCode}\n{required.StandardOutput}\n{required.StandardError}");
            Assert.Matches(@"(?m)^uri=nbds://127\.0\.0\.1:\d+/m tls=2$", required.StandardOutput);
            Assert.Matches("(?m)^1048576$", required.StandardOutput);

            // Offered but not required: plain nbd:// (a client may connect either way), $tls 1.
            ToolResult offered = await BlkmqCli.RunAsync(
                ["serve", "--export", "m=memory:size=1M", "--listen", "127.0.0.1:0", "--tls", "on", .. tls, "--run", "echo \"uri=$uri tls=$tls\" && nbdinfo --size \"$uri\""],
                s_toolTimeout,
                TestContext.Current.CancellationToken);
            Assert.True(offered.ExitCode == 0, $"exit {offered.ExitCode}\n{offered.StandardOutput}\n{offered.StandardError}");
            Assert.Matches(@"(?m)^uri=nbd://127\.0\.0\.1:\d+/m tls=1$", offered.StandardOutput);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task SigTerm_TheCommandGetsSigTerm_CleansUp_AndServeExitsWithItsStatus()
    {
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string script = Path.Combine(directory, "captive.sh");
            string started = Path.Combine(directory, "started");
            string marker = Path.Combine(directory, "cleaned-up");
            string body = $"trap 'echo cleaned > {marker}; exit 0' TERM; echo started > {started}; while :; do sleep 0.1; done";
            await File.WriteAllTextAsync(script, body + "\n", TestContext.Current.CancellationToken);

            // Run as a script of its own (a shell in between) and inline (the shell is the command).
            foreach (string command in new[] { "sh " + script, body })
            {
                File.Delete(marker);
                File.Delete(started);
                await using CliProcess serve = BlkmqCli.Start(["serve", "--export", "m=memory:size=1M", "--listen", "unix:-", "--run", command]);
                DateTime deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
                while (!File.Exists(started) && DateTime.UtcNow < deadline)
                {
                    await Task.Delay(50, TestContext.Current.CancellationToken);
                }

                Assert.True(File.Exists(started), serve.Describe());
                serve.Signal(Libc.SigTerm);
                Assert.Equal(0, await serve.WaitForExitAsync(TimeSpan.FromSeconds(4), TestContext.Current.CancellationToken));
                Assert.True(File.Exists(marker), $"the captive command's TERM trap did not run ({command})\n{serve.Describe()}");
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static void RequireIpv6Loopback()
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.IPv6Loopback, 0));
        }
        catch (SocketException ex)
        {
            Assert.Skip($"This host has no IPv6 loopback (binding [::1] failed: {ex.Message}).");
        }
    }
}
