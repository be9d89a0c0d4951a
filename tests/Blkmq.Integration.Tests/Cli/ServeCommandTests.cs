using System.Net;
using System.Text.RegularExpressions;
using Blkmq.Integration.Tests.Cli.Interop;
using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests.Cli;

/// <summary>
/// <c>blkmq serve</c> run as a process and used with real clients (nbdinfo, nbdsh): the URIs it prints once ready,
/// data across its TCP and Unix listeners, read-only exports, several exports, the connection limit, bad
/// <c>--export</c> values, and a clean exit 0 on SIGTERM and SIGINT.
/// </summary>
public sealed partial class ServeCommandTests
{
    /// <summary>Per test, so that a hung server or client fails its test instead of the suite.</summary>
    private const int TestTimeoutMilliseconds = 120_000;

    private static readonly TimeSpan s_toolTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan s_readyTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan s_exitTimeout = TimeSpan.FromSeconds(10);

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task TcpAndUnixListeners_PrintUris_DataWrittenOverOneReadsBackOverTheOther_SigtermExitsZero()
    {
        ExternalTool.Require("nbdinfo");
        await ExternalTool.RequireNbdShAsync();
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string socket = Path.Combine(directory, "nbd.sock");
            await using CliProcess serve = BlkmqCli.Start(["serve", "--export", "disk=memory:size=64M", "--listen", "127.0.0.1:0", "--listen", "unix:" + socket]);
            IReadOnlyList<string> uris = await serve.ReadLinesAsync(2, s_readyTimeout, TestContext.Current.CancellationToken);
            Match tcp = TcpUri().Match(uris[0]);
            Assert.True(tcp.Success, $"not an nbd:// URI on 127.0.0.1: {uris[0]}\n{serve.Describe()}");
            Assert.NotEqual(0, int.Parse(tcp.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal("/disk", tcp.Groups[2].Value);
            Assert.Equal($"nbd+unix:///disk?socket={socket}", uris[1]);
            Assert.True(File.Exists(socket), serve.Describe());

            foreach (string uri in uris)
            {
                ToolResult info = await ExternalTool.RunCheckedAsync("nbdinfo", [uri], s_toolTimeout);
                Assert.Contains("export-size: 67108864", info.StandardOutput, StringComparison.Ordinal);
                Assert.Contains("is_read_only: false", info.StandardOutput, StringComparison.Ordinal);
            }

            const string Data = "bytes((i * 7 + 3) % 251 for i in range(1048576))";
            await RunNbdShAsync($$"""
                h.connect_uri("{{uris[0]}}")
                h.pwrite({{Data}}, 3145728)
                h.flush()
                h.shutdown()
                print("ok")
                """);
            await RunNbdShAsync($$"""
                h.connect_uri("{{uris[1]}}")
                assert h.get_size() == 67108864
                assert h.pread(1048576, 3145728) == {{Data}}
                assert h.pread(65536, 0) == bytes(65536)
                h.shutdown()
                print("ok")
                """);

            serve.Signal(Libc.SigTerm);
            int exitCode = await serve.WaitForExitAsync(s_exitTimeout, TestContext.Current.CancellationToken);
            Assert.True(exitCode == 0, $"exit {exitCode}\n{serve.Describe()}");
            Assert.Contains("NBD server stopped", serve.StandardError, StringComparison.Ordinal);
            Assert.False(File.Exists(socket), "the Unix socket is removed on exit");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Theory(Timeout = TestTimeoutMilliseconds)]
    [InlineData(Libc.SigTerm)]
    [InlineData(Libc.SigInt)]
    public async Task Signal_WhileAClientIsConnected_ExitsZero(int signal)
    {
        await using CliProcess serve = BlkmqCli.Start(["serve", "--export", "disk=memory:size=16M", "--listen", "127.0.0.1:0"]);
        IPEndPoint endPoint = TcpEndPoint((await serve.ReadLinesAsync(1, s_readyTimeout, TestContext.Current.CancellationToken))[0]);
        await using RawNbdClient client = await RawNbdClient.OpenAsync(endPoint);
        Assert.Equal(16UL << 20, client.ExportSize);

        serve.Signal(signal);
        int exitCode = await serve.WaitForExitAsync(s_exitTimeout, TestContext.Current.CancellationToken);
        Assert.True(exitCode == 0, $"exit {exitCode}\n{serve.Describe()}");
        Assert.True(await client.WaitForCloseAsync(), "the server closes the client's connection as it stops");
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task SigTerm_WithAWriteHeldByADelayFilter_LetsItGoAndExitsAtOnce()
    {
        // A 60 s delay: the stop must not wait it out (nor the NBD drain's 10 s grace); the client gets its reply.
        await using CliProcess serve = BlkmqCli.Start(["serve", "--export", "disk=memory:size=16M|delay:write=60s", "--listen", "127.0.0.1:0"]);
        IPEndPoint endPoint = TcpEndPoint((await serve.ReadLinesAsync(1, s_readyTimeout, TestContext.Current.CancellationToken))[0]);
        await using RawNbdClient client = await RawNbdClient.OpenAsync(endPoint);
        await client.SendRequestAsync(1, cookie: 7, offset: 0, length: 4096, payload: new byte[4096]);
        await Task.Delay(300, TestContext.Current.CancellationToken);

        var stopwatch = System.Diagnostics.Stopwatch.StartNew();
        serve.Signal(Libc.SigTerm);
        NbdReply reply = await client.ReadReplyAsync();
        Assert.Equal((7UL, 0U), (reply.Cookie, reply.Error));
        int exitCode = await serve.WaitForExitAsync(s_exitTimeout, TestContext.Current.CancellationToken);
        Assert.True(exitCode == 0, $"exit {exitCode}\n{serve.Describe()}");
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(8), $"stopping took {stopwatch.Elapsed.TotalSeconds:F1} s\n{serve.Describe()}");
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task ReadOnly_WritesFailForTheClient_ReadsWork()
    {
        ExternalTool.Require("nbdinfo");
        await ExternalTool.RequireNbdShAsync();
        await using CliProcess serve = BlkmqCli.Start(["serve", "--export", "disk=memory:size=64M", "--listen", "127.0.0.1:0", "--read-only"]);
        string uri = (await serve.ReadLinesAsync(1, s_readyTimeout, TestContext.Current.CancellationToken))[0];

        ToolResult info = await ExternalTool.RunCheckedAsync("nbdinfo", [uri], s_toolTimeout);
        Assert.Contains("is_read_only: true", info.StandardOutput, StringComparison.Ordinal);

        // libnbd refuses a write to a read-only export itself; with its checks off, the server refuses it (EPERM).
        await RunNbdShAsync($$"""
            import errno
            h.connect_uri("{{uri}}")
            assert h.is_read_only()
            assert h.pread(4096, 0) == bytes(4096)
            def expect(code, fn, *args):
                try:
                    fn(*args)
                except nbd.Error as e:
                    assert code is None or e.errnum == code, (fn.__name__, e.errnum, e.string)
                    return
                raise AssertionError("no error from %s" % fn.__name__)
            expect(None, h.pwrite, b"x" * 4096, 0)
            h.set_strict_mode(0)
            expect(errno.EPERM, h.pwrite, b"x" * 4096, 0)
            expect(errno.EPERM, h.zero, 4096, 0)
            assert h.pread(4096, 0) == bytes(4096)
            h.shutdown()
            print("ok")
            """);

        serve.Signal(Libc.SigTerm);
        Assert.Equal(0, await serve.WaitForExitAsync(s_exitTimeout, TestContext.Current.CancellationToken));
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task PowerOffAndOn_ThroughCtl_ExportServesTheDiskAgain_WithItsData()
    {
        await ExternalTool.RequireNbdShAsync();
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string control = Path.Combine(directory, "ctl.sock");
            await using CliProcess serve = BlkmqCli.Start(["serve", "--export", "disk=memory:size=64M", "--listen", "127.0.0.1:0", "--control", control]);
            string uri = (await serve.ReadLinesAsync(1, s_readyTimeout, TestContext.Current.CancellationToken))[0];
            await RunNbdShAsync($$"""
                h.connect_uri("{{uri}}")
                h.pwrite(b"\x42" * 65536, 1048576)
                h.flush()
                h.shutdown()
                print("ok")
                """);

            // Off: the disk is gone, its IO fails.
            ToolResult off = await BlkmqCli.RunAsync(["ctl", "--control", control, "power", "disk", "off"], s_toolTimeout, TestContext.Current.CancellationToken);
            Assert.True(off.ExitCode == 0, off.StandardError);
            await RunNbdShAsync($$"""
                import errno
                h.add_meta_context("base:allocation")
                h.connect_uri("{{uri}}")
                try:
                    h.pread(4096, 0)
                    raise AssertionError("a read succeeded on a disk that is powered off")
                except nbd.Error as e:
                    print("ok", e.errnum)
                # Block status and cache never reach the block layer: they fail as reads do, not from the old map.
                for name, call in (("block_status", lambda: h.block_status(4096, 0, lambda *a: 0)), ("cache", lambda: h.cache(4096, 0))):
                    try:
                        call()
                        raise AssertionError(name + " succeeded on a disk that is powered off")
                    except nbd.Error as e:
                        assert e.errnum == errno.ESHUTDOWN, (name, e.errnum, str(e))
                print("ok")
                """);

            // On: null_blk keeps a memory-backed device's data across a power cycle; new clients get the new disk.
            ToolResult on = await BlkmqCli.RunAsync(["ctl", "--control", control, "power", "disk", "on"], s_toolTimeout, TestContext.Current.CancellationToken);
            Assert.True(on.ExitCode == 0, on.StandardError);
            await RunNbdShAsync($$"""
                h.connect_uri("{{uri}}")
                assert h.pread(65536, 1048576) == b"\x42" * 65536
                h.pwrite(b"\x43" * 4096, 0)
                assert h.pread(4096, 0) == b"\x43" * 4096
                h.shutdown()
                print("ok")
                """);

            serve.Signal(Libc.SigTerm);
            Assert.Equal(0, await serve.WaitForExitAsync(s_exitTimeout, TestContext.Current.CancellationToken));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task TwoExports_PrintedAndListedByNbdInfo()
    {
        ExternalTool.Require("nbdinfo");
        await using CliProcess serve = BlkmqCli.Start(["serve", "--export", "a=memory:size=1M", "--export", "b=null:size=2M", "--listen", "127.0.0.1:0"]);
        IReadOnlyList<string> uris = await serve.ReadLinesAsync(2, s_readyTimeout, TestContext.Current.CancellationToken);
        Assert.EndsWith("/a", uris[0], StringComparison.Ordinal);
        Assert.EndsWith("/b", uris[1], StringComparison.Ordinal);
        Assert.Equal(uris[0][..^1], uris[1][..^1]);

        ToolResult list = await ExternalTool.RunCheckedAsync("nbdinfo", ["--list", uris[0][..^1]], s_toolTimeout);
        string output = list.StandardOutput;
        Assert.Contains("export=\"a\"", output, StringComparison.Ordinal);
        Assert.Contains("export=\"b\"", output, StringComparison.Ordinal);
        Assert.Contains("description: blkmq memory disk, 1048576 bytes", output, StringComparison.Ordinal);
        Assert.Contains("description: blkmq null disk, 2097152 bytes", output, StringComparison.Ordinal);
        Assert.Contains("export-size: 1048576", output, StringComparison.Ordinal);
        Assert.Contains("export-size: 2097152", output, StringComparison.Ordinal);

        serve.Signal(Libc.SigTerm);
        Assert.Equal(0, await serve.WaitForExitAsync(s_exitTimeout, TestContext.Current.CancellationToken));
    }

    [Theory(Timeout = TestTimeoutMilliseconds)]
    [InlineData("disk", "--export 'disk': expected NAME=DRIVER[:key=value,...].")]
    [InlineData("=memory", "--export '=memory': expected NAME=DRIVER[:key=value,...].")]
    [InlineData("disk=floppy", "--export 'disk=floppy': unknown driver 'floppy' (known: file, memory, null, rbd; see 'blkmq drivers').")]
    [InlineData("disk=memory:size=lots", "'lots' is not a size")]
    [InlineData("disk=memory:frobnicate=1", "Unknown null_blk parameter 'frobnicate'")]
    [InlineData("disk=memory:size=16777217T", "size: '16777217T' is too large.")]
    public async Task InvalidExport_ExitsTwo_WithMessage_NoUris(string export, string message)
    {
        ToolResult result = await RunRefusedAsync(["serve", "--export", export, "--listen", "127.0.0.1:0"], TestContext.Current.CancellationToken);
        Assert.Contains("blkmq serve: ", result.StandardError, StringComparison.Ordinal);
        Assert.Contains(message, result.StandardError, StringComparison.Ordinal);
    }

    [Theory(Timeout = TestTimeoutMilliseconds)]
    [InlineData("--max-connections", "0", "blkmq serve: --max-connections: At least one connection.")]
    [InlineData("--busy-poll", "20000", "blkmq serve: --busy-poll: Between 0 and 10 ms.")]
    [InlineData("--tls", "on", "blkmq serve: --tls-certificate: TLS needs a certificate file.")]
    [InlineData("--ublk-queues", "2", "blkmq serve: --ublk-id, --ublk-recoverable, --ublk-user-copy, --ublk-queues, --ublk-depth and --recover need --ublk.")]
    public async Task InvalidServerOption_ExitsTwo_NamingTheOption(string option, string value, string message)
    {
        ToolResult result = await RunRefusedAsync(["serve", "--listen", "127.0.0.1:0", option, value], TestContext.Current.CancellationToken);
        Assert.Contains(message + Environment.NewLine, result.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain("(Parameter", result.StandardError, StringComparison.Ordinal);
    }

    [Theory(Timeout = TestTimeoutMilliseconds)]
    [InlineData("--ublk-queues", "0")]
    [InlineData("--ublk-depth", "5000")]
    public async Task UblkGeometryOutOfRange_ExitsTwo_BeforeAnyDevice(string option, string value)
    {
        ToolResult result = await RunRefusedAsync(["serve", "--listen", "none", "--ublk", option, value], TestContext.Current.CancellationToken);
        Assert.Contains("--ublk-queues and --ublk-depth must be 1 to 4096.", result.StandardError, StringComparison.Ordinal);
    }

    /// <summary>Runs blkmq with arguments it must refuse: exit 2, nothing on stdout (no URI), no stack trace.</summary>
    private static async Task<ToolResult> RunRefusedAsync(string[] arguments, CancellationToken cancellationToken)
    {
        ToolResult result = await BlkmqCli.RunAsync(arguments, s_toolTimeout, cancellationToken);
        Assert.True(result.ExitCode == 2, $"{result.CommandLine} exited {result.ExitCode}\nstdout:\n{result.StandardOutput}\nstderr:\n{result.StandardError}");
        Assert.Equal(string.Empty, result.StandardOutput);
        BlkmqCli.AssertNoStackTrace(result);
        return result;
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task ListenerThatCannotBind_ExitsOne_NamingIt_AndLeavesNothingBound()
    {
        using var busy = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        busy.Start();
        int port = ((System.Net.IPEndPoint)busy.LocalEndpoint).Port;
        string missing = Path.Combine(Path.GetTempPath(), "blkmq-missing-" + Guid.NewGuid().ToString("N"), "x.sock");
        foreach (string listen in new[] { "unix:" + missing, "127.0.0.1:" + port })
        {
            ToolResult result = await BlkmqCli.RunAsync(["serve", "--export", "disk=memory:size=1M", "--listen", "127.0.0.1:0", "--listen", listen], s_toolTimeout, TestContext.Current.CancellationToken);
            Assert.True(result.ExitCode == 1, $"{result.CommandLine} exited {result.ExitCode}\nstderr:\n{result.StandardError}");
            Assert.Contains("blkmq serve: cannot listen on " + listen, result.StandardError, StringComparison.Ordinal);
            Assert.Equal(string.Empty, result.StandardOutput);
            BlkmqCli.AssertNoStackTrace(result);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task TlsCertificate_WithoutTls_TurnsTlsOn_WithTlsOff_IsRefused()
    {
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string certificate = Path.Combine(directory, "cert.pem");
            await File.WriteAllTextAsync(certificate, "not a certificate\n", TestContext.Current.CancellationToken);

            // Without --tls the certificate is used (and this one fails to load): TLS is on, not silently off.
            ToolResult implicitOn = await BlkmqCli.RunAsync(
                ["serve", "--export", "disk=memory:size=1M", "--listen", "127.0.0.1:0", "--tls-certificate", certificate], s_toolTimeout, TestContext.Current.CancellationToken);
            Assert.True(implicitOn.ExitCode == 1, $"exit {implicitOn.ExitCode}\n{implicitOn.StandardError}");
            Assert.Contains($"TLS certificate {certificate}", implicitOn.StandardError, StringComparison.Ordinal);

            ToolResult off = await BlkmqCli.RunAsync(
                ["serve", "--export", "disk=memory:size=1M", "--listen", "127.0.0.1:0", "--tls", "off", "--tls-certificate", certificate], s_toolTimeout, TestContext.Current.CancellationToken);
            Assert.True(off.ExitCode == 2, $"exit {off.ExitCode}\n{off.StandardError}");
            Assert.Contains("--tls off with --tls-certificate or --tls-key: the certificate would not be used", off.StandardError, StringComparison.Ordinal);
            BlkmqCli.AssertNoStackTrace(off);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task TlsCertificateNotAPem_NamesTheFile_ExitOne()
    {
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string certificate = Path.Combine(directory, "cert.pem");
            string key = Path.Combine(directory, "key.pem");
            await File.WriteAllTextAsync(certificate, "not a certificate\n", TestContext.Current.CancellationToken);
            await File.WriteAllTextAsync(key, "not a key\n", TestContext.Current.CancellationToken);
            ToolResult result = await BlkmqCli.RunAsync(
                ["serve", "--export", "disk=memory:size=1M", "--listen", "127.0.0.1:0", "--tls", "on", "--tls-certificate", certificate, "--tls-key", key],
                s_toolTimeout,
                TestContext.Current.CancellationToken);
            Assert.True(result.ExitCode == 1, $"{result.CommandLine} exited {result.ExitCode}\nstderr:\n{result.StandardError}");
            Assert.Contains($"blkmq serve: TLS certificate {certificate} with key {key}: ", result.StandardError, StringComparison.Ordinal);
            BlkmqCli.AssertNoStackTrace(result);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task UnusableFiles_ExitOne_WithMessage_NoStackTrace()
    {
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            // A certificate "file" that is a directory, and control paths longer than a Unix socket address holds.
            string tooLong = Path.Combine(directory, new string('x', 120));
            string[][] runs =
            [
                ["serve", "--export", "disk=memory:size=1M", "--listen", "127.0.0.1:0", "--tls", "on", "--tls-certificate", directory],
                ["serve", "--export", "disk=memory:size=1M", "--listen", "127.0.0.1:0", "--control", tooLong],
                ["ctl", "--control", tooLong, "list"],
            ];
            foreach (string[] arguments in runs)
            {
                ToolResult result = await BlkmqCli.RunAsync(arguments, s_toolTimeout, TestContext.Current.CancellationToken);
                Assert.True(result.ExitCode == 1, $"{result.CommandLine} exited {result.ExitCode}\nstderr:\n{result.StandardError}");
                Assert.Contains($"blkmq {arguments[0]}: ", result.StandardError, StringComparison.Ordinal);
                BlkmqCli.AssertNoStackTrace(result);
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task CtlAndStat_NoServerAtTheControlPath_SayWhyInOneLine()
    {
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string missing = Path.Combine(directory, "missing.sock");
            string plain = Path.Combine(directory, "plain");
            await File.WriteAllTextAsync(plain, "not a socket", TestContext.Current.CancellationToken);
            (string[] Arguments, string Expected)[] runs =
            [
                (["ctl", "--control", missing, "list"], "no such control socket"),
                (["stat", "--control", missing, "disk", "1"], "no such control socket"),
                (["ctl", "--control", plain, "list"], "nothing listens on it"),
            ];
            foreach ((string[] arguments, string expected) in runs)
            {
                ToolResult result = await BlkmqCli.RunAsync(arguments, s_toolTimeout, TestContext.Current.CancellationToken);
                Assert.True(result.ExitCode == 1, $"{result.CommandLine} exited {result.ExitCode}\nstderr:\n{result.StandardError}");
                Assert.Contains($"blkmq {arguments[0]}: {arguments[2]}: {expected}", result.StandardError, StringComparison.Ordinal);
                BlkmqCli.AssertNoStackTrace(result);
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task CtlAndStat_GivenTheNbdSocket_SayItIsNotTheControlSocket()
    {
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string nbd = Path.Combine(directory, "nbd.sock");
            await using CliProcess serve = BlkmqCli.Start(["serve", "--export", "disk=memory:size=16M", "--listen", "unix:" + nbd]);
            _ = await serve.ReadLinesAsync(1, s_readyTimeout, TestContext.Current.CancellationToken);
            foreach (string[] arguments in new[] { new[] { "ctl", "--control", nbd, "list" }, ["stat", "--control", nbd, "disk", "1"] })
            {
                ToolResult result = await BlkmqCli.RunAsync(arguments, s_toolTimeout, TestContext.Current.CancellationToken);
                Assert.True(result.ExitCode == 1, $"{result.CommandLine} exited {result.ExitCode}\nstderr:\n{result.StandardError}");
                Assert.Contains($"blkmq {arguments[0]}: {nbd}: an NBD socket (blkmq serve --listen unix:PATH), not a control socket", result.StandardError, StringComparison.Ordinal);
                Assert.DoesNotContain("NBDMAGIC", result.StandardError, StringComparison.Ordinal);
                BlkmqCli.AssertNoStackTrace(result);
            }

            serve.Signal(Libc.SigTerm);
            Assert.Equal(0, await serve.WaitForExitAsync(s_exitTimeout, TestContext.Current.CancellationToken));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task MaxConnectionsOne_SecondClientClosedAtAccept_ServedOnceTheFirstLeaves()
    {
        // ServeCommand: "Most client connections at once; more are closed at accept" (NbdServer logs the refusal).
        ExternalTool.Require("nbdinfo");
        await using CliProcess serve = BlkmqCli.Start(["serve", "--export", "disk=memory:size=64M", "--listen", "127.0.0.1:0", "--max-connections", "1"]);
        string uri = (await serve.ReadLinesAsync(1, s_readyTimeout, TestContext.Current.CancellationToken))[0];
        await using (RawNbdClient first = await RawNbdClient.OpenAsync(TcpEndPoint(uri)))
        {
            ToolResult refused = await ExternalTool.RunAsync("nbdinfo", ["--size", uri], s_toolTimeout);
            Assert.True(refused.ExitCode != 0, $"a second client was served while the first was open:\n{refused.StandardOutput}\n{serve.Describe()}");
            await WaitForAsync(() => serve.StandardError.Contains("refused: 1 connections already open", StringComparison.Ordinal), serve);

            // The first client is still served.
            await first.SendRequestAsync(RawNbdClient.CmdRead, 1, 0, 4096);
            Assert.Equal(0U, (await first.ReadReplyAsync()).Error);
        }

        // The server notices the first client leave asynchronously; until then a new client is still refused.
        DateTime deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        ToolResult served;
        while (true)
        {
            served = await ExternalTool.RunAsync("nbdinfo", ["--size", uri], s_toolTimeout);
            if (served.ExitCode == 0 || DateTime.UtcNow > deadline)
            {
                break;
            }

            await Task.Delay(100, TestContext.Current.CancellationToken);
        }

        Assert.True(served.ExitCode == 0, $"no client was served after the first left:\n{served.StandardError}\n{serve.Describe()}");
        Assert.Equal("67108864", served.StandardOutput.Trim());

        serve.Signal(Libc.SigTerm);
        Assert.Equal(0, await serve.WaitForExitAsync(s_exitTimeout, TestContext.Current.CancellationToken));
    }

    private static async Task RunNbdShAsync(string script)
    {
        ToolResult result = await ExternalTool.RunCheckedAsync("nbdsh", ["-c", script], s_toolTimeout);
        Assert.Contains("ok", result.StandardOutput, StringComparison.Ordinal);
    }

    private static IPEndPoint TcpEndPoint(string uri)
    {
        Match match = TcpUri().Match(uri);
        Assert.True(match.Success, $"not an nbd:// URI on 127.0.0.1: {uri}");
        return new IPEndPoint(IPAddress.Loopback, int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
    }

    private static async Task WaitForAsync(Func<bool> condition, CliProcess serve)
    {
        DateTime deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition() && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }

        Assert.True(condition(), serve.Describe());
    }

    [GeneratedRegex(@"^nbd://127\.0\.0\.1:(\d+)(/.*)$")]
    private static partial Regex TcpUri();
}
