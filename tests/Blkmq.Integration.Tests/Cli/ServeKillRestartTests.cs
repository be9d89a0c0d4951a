using System.Globalization;
using System.Net.Sockets;
using System.Text;
using Blkmq.Integration.Tests.Cli.Interop;
using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests.Cli;

/// <summary>
/// <c>blkmq serve</c> killed with SIGKILL at a random point of a real client's write workload, then started again on
/// the same addresses, sockets and mount point, ten times per front end: the client sees an error (not a hang), and
/// every restart starts, serves and leaves nothing stale. Memory disks lose their data with the process, so each
/// restart is checked with fresh data. The random points come from one fixed seed, printed in every failure.
/// </summary>
[Collection("heavy")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ServeKillRestartTests
{
    private const int Seed = 15_001;
    private const int Rounds = 10;
    private const int TestTimeoutMilliseconds = 180_000;
    private const int DiskSize = 32 << 20;

    private static readonly TimeSpan s_readyTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan s_exitTimeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan s_clientTimeout = TimeSpan.FromSeconds(20);

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Nbd_KilledDuringFioWrites_FioFails_RestartServesTcpUnixSocketAndControlSocket()
    {
        ExternalTool.Require("fio", "nbdcopy");
        CancellationToken cancellationToken = TestContext.Current.CancellationToken;
        string directory = BlkmqCli.CreateTempDirectory();
        string unixSocket = Path.Combine(directory, "nbd.sock");
        string controlSocket = Path.Combine(directory, "ctl.sock");
        var random = new Random(Seed);
        int port = 0;
        CliProcess? serve = null;
        try
        {
            for (int round = 0; round <= Rounds; round++)
            {
                int killAfter = random.Next(150, 900);
                string context = string.Create(CultureInfo.InvariantCulture, $"seed {Seed}, round {round} of {Rounds}, kill {killAfter} ms into the workload");
                try
                {
                    // The same TCP port every time (TIME_WAIT connections of the killed server on it), and the socket
                    // files the killed server left.
                    serve = BlkmqCli.Start(["serve", "--export", $"disk=memory:size={DiskSize}", "--listen", $"127.0.0.1:{port}", "--listen", "unix:" + unixSocket, "--control", controlSocket]);
                    IReadOnlyList<string> lines = await serve.ReadLinesAsync(2, s_readyTimeout, cancellationToken);
                    string tcp = lines[0];
                    port = new Uri(tcp).Port;
                    Assert.Equal($"nbd+unix:///disk?socket={unixSocket}", lines[1]);

                    // It serves: in over TCP, out over the Unix socket, and the control socket answers.
                    byte[] data = new byte[1 << 20];
                    random.NextBytes(data);
                    string input = Path.Combine(directory, "in.bin");
                    string output = Path.Combine(directory, "out.bin");
                    await File.WriteAllBytesAsync(input, data, cancellationToken);
                    await ExternalTool.RunCheckedAsync("nbdcopy", [input, tcp], s_clientTimeout);
                    File.Delete(output);
                    await ExternalTool.RunCheckedAsync("nbdcopy", [lines[1], output], s_clientTimeout);
                    byte[] copied = await File.ReadAllBytesAsync(output, cancellationToken);
                    Assert.Equal(DiskSize, copied.Length);
                    Assert.True(copied.AsSpan(0, data.Length).SequenceEqual(data), "nbdcopy out did not return what nbdcopy in wrote");
                    Assert.StartsWith("ok", await ControlAsync(controlSocket, "list", cancellationToken), StringComparison.Ordinal);
                    if (round == Rounds)
                    {
                        break;
                    }

                    // fio's nbd engine writes for far longer than the kill takes; it must fail at once, not hang.
                    Task<ToolResult> fio = ExternalTool.RunAsync(
                        "fio",
                        ["--name=w", "--ioengine=nbd", "--uri=" + tcp, "--rw=randwrite", "--bs=64k", "--iodepth=8", $"--size={DiskSize}", "--time_based", "--runtime=60", $"--randseed={Seed + round}"],
                        s_clientTimeout);
                    await Task.Delay(killAfter, cancellationToken);
                    serve.Signal(Libc.SigKill);
                    await serve.WaitForExitAsync(s_exitTimeout, cancellationToken);
                    ToolResult writer = await fio;
                    Assert.True(writer.ExitCode != 0, $"fio ended well although its server was killed\n{writer.StandardError}");

                    // Left behind for the next start to replace.
                    Assert.True(File.Exists(unixSocket), "the killed server's NBD socket file is gone");
                    Assert.True(File.Exists(controlSocket), "the killed server's control socket file is gone");
                    await serve.DisposeAsync();
                    serve = null;
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    Assert.Fail($"{context}: {ex.Message}\n{serve?.Describe()}");
                }
            }

            // A clean stop after all that removes both socket files.
            serve!.Signal(Libc.SigTerm);
            int exitCode = await serve.WaitForExitAsync(s_exitTimeout, cancellationToken);
            Assert.True(exitCode == 0, $"seed {Seed}: exit {exitCode}\n{serve.Describe()}");
            Assert.False(File.Exists(unixSocket), $"seed {Seed}: {unixSocket} is left after SIGTERM");
            Assert.False(File.Exists(controlSocket), $"seed {Seed}: {controlSocket} is left after SIGTERM");
        }
        finally
        {
            if (serve is not null)
            {
                await serve.DisposeAsync();
            }

            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Fuse_KilledDuringDdWrites_DdFails_RestartDetachesTheDeadMountAndServes()
    {
        ExternalTool.Require("dd", "sh");
        FuseRequirements.RequireRootWithFuse();
        CancellationToken cancellationToken = TestContext.Current.CancellationToken;
        string directory = BlkmqCli.CreateTempDirectory();
        string mountPoint = Path.Combine(directory, "mnt");
        string file = Path.Combine(mountPoint, "disk");
        Directory.CreateDirectory(mountPoint);
        var random = new Random(Seed);
        int killedPid = 0;
        CliProcess? serve = null;
        try
        {
            for (int round = 0; round <= Rounds; round++)
            {
                int killAfter = random.Next(150, 900);
                string context = string.Create(CultureInfo.InvariantCulture, $"seed {Seed}, round {round} of {Rounds}, kill {killAfter} ms into the workload");
                try
                {
                    serve = BlkmqCli.Start(["serve", "--export", $"disk=memory:size={DiskSize}", "--listen", "none", "--fuse", mountPoint]);
                    IReadOnlyList<string> lines = await serve.ReadLinesAsync(1, s_readyTimeout, cancellationToken);
                    Assert.Equal(file, lines[0]);

                    // One mount, this server's: the dead one below it was detached, not mounted over.
                    Assert.Equal([$"fuse.blkmq blkmq:{serve.Id}"], MountTable.At(mountPoint));
                    if (round > 0)
                    {
                        await WaitForLogAsync(serve, $"left behind by a Blkmq server that is gone (pid {killedPid}); detached it, mounting afresh", cancellationToken);
                    }

                    // It serves: a write at a random offset reads back through another handle.
                    byte[] data = new byte[256 << 10];
                    random.NextBytes(data);
                    long offset = random.Next(0, (DiskSize - data.Length) / 512) * 512L;
                    await using (var stream = new FileStream(file, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0))
                    {
                        Assert.Equal(DiskSize, stream.Length);
                        stream.Position = offset;
                        await stream.WriteAsync(data, cancellationToken);
                    }

                    byte[] read = new byte[data.Length];
                    await using (var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, bufferSize: 0))
                    {
                        stream.Position = offset;
                        await stream.ReadExactlyAsync(read, cancellationToken);
                    }

                    Assert.True(read.AsSpan().SequenceEqual(data), "the file did not read back what was written");
                    if (round == Rounds)
                    {
                        break;
                    }

                    // dd rewrites half the file over and over (O_DIRECT: every write reaches the server) until a write
                    // fails; it must fail at once when the server dies, not hang.
                    int seek = random.Next(0, DiskSize / 2 / 65536);
                    Task<ToolResult> dd = ExternalTool.RunAsync(
                        "sh",
                        ["-c", $"while dd if=/dev/urandom of={file} bs=64k seek={seek} count={DiskSize / 2 / 65536} conv=notrunc oflag=direct status=none; do :; done"],
                        s_clientTimeout);
                    await Task.Delay(killAfter, cancellationToken);
                    serve.Signal(Libc.SigKill);
                    await serve.WaitForExitAsync(s_exitTimeout, cancellationToken);
                    ToolResult writer = await dd;
                    Assert.Contains("dd: ", writer.StandardError, StringComparison.Ordinal);

                    // Left behind, dead, for the next start to detach.
                    Assert.Equal([$"fuse.blkmq blkmq:{serve.Id}"], MountTable.At(mountPoint));
                    killedPid = serve.Id;
                    await serve.DisposeAsync();
                    serve = null;
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    Assert.Fail($"{context}: {ex.Message}\n{serve?.Describe()}");
                }
            }

            // The unmount at exit leaves nothing mounted.
            serve!.Signal(Libc.SigTerm);
            int exitCode = await serve.WaitForExitAsync(s_exitTimeout, cancellationToken);
            Assert.True(exitCode == 0, $"seed {Seed}: exit {exitCode}\n{serve.Describe()}");
            Assert.Empty(MountTable.At(mountPoint));
            Assert.Empty(Directory.GetFileSystemEntries(mountPoint));
        }
        finally
        {
            if (serve is not null)
            {
                await serve.DisposeAsync();
            }

            DeadFuseMount.DetachAll(mountPoint);
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>Sends one command line to the control socket and returns the reply line.</summary>
    private static async Task<string> ControlAsync(string path, string command, CancellationToken cancellationToken)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        await stream.WriteAsync(Encoding.UTF8.GetBytes(command + "\n"), cancellationToken);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return await reader.ReadLineAsync(cancellationToken) ?? "(connection closed without a reply)";
    }

    /// <summary>Waits for a log line: the console logger writes on a thread of its own, so it may follow the ready line.</summary>
    private static async Task WaitForLogAsync(CliProcess serve, string text, CancellationToken cancellationToken)
    {
        for (int i = 0; i < 100 && !serve.StandardError.Contains(text, StringComparison.Ordinal); i++)
        {
            await Task.Delay(50, cancellationToken);
        }

        Assert.Contains(text, serve.StandardError, StringComparison.Ordinal);
    }
}
