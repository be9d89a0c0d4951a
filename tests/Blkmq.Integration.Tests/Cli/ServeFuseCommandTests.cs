using Blkmq.Integration.Tests.Cli.Interop;
using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests.Cli;

/// <summary>
/// <c>blkmq serve --fuse DIR</c> run as a process: every export a file in the mount, the same data over NBD and the
/// file, <c>--listen none</c> for files only, a clear error for a bad mount point, and an unmount on SIGTERM.
/// </summary>
public sealed class ServeFuseCommandTests
{
    private const int TestTimeoutMilliseconds = 120_000;

    private static readonly TimeSpan s_readyTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan s_exitTimeout = TimeSpan.FromSeconds(20);

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task FuseAndNbd_ServeTheSameDisk_SigtermUnmountsAndExitsZero()
    {
        ExternalTool.Require("nbdcopy");
        FuseRequirements.RequireRootWithFuse();
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string mountPoint = Path.Combine(directory, "mnt");
            Directory.CreateDirectory(mountPoint);
            await using CliProcess serve = BlkmqCli.Start(["serve", "--export", "a=memory:size=8M", "--export", "b=memory:size=4M,bs=4096", "--listen", "127.0.0.1:0", "--fuse", mountPoint]);
            IReadOnlyList<string> lines = await serve.ReadLinesAsync(4, s_readyTimeout, TestContext.Current.CancellationToken);
            Assert.StartsWith("nbd://127.0.0.1:", lines[0], StringComparison.Ordinal);
            Assert.Equal(Path.Combine(mountPoint, "a"), lines[2]);
            Assert.Equal(Path.Combine(mountPoint, "b"), lines[3]);
            Assert.Equal(8L << 20, new FileInfo(lines[2]).Length);
            Assert.Equal(4L << 20, new FileInfo(lines[3]).Length);

            // Written through the file, read over NBD.
            byte[] data = new byte[1 << 20];
            new Random(3).NextBytes(data);
            await File.WriteAllBytesAsync(Path.Combine(directory, "in.bin"), data);
            await using (var file = new FileStream(lines[2], FileMode.Open, FileAccess.Write))
            {
                file.Position = 12345;
                await file.WriteAsync(data);
                file.Flush(flushToDisk: true);
            }

            string copy = Path.Combine(directory, "out.bin");
            await ExternalTool.RunCheckedAsync("nbdcopy", [lines[0], copy], TimeSpan.FromSeconds(60));
            byte[] exported = await File.ReadAllBytesAsync(copy);
            Assert.True(exported.AsSpan(12345, data.Length).SequenceEqual(data));

            serve.Signal(Libc.SigTerm);
            int exitCode = await serve.WaitForExitAsync(s_exitTimeout, TestContext.Current.CancellationToken);
            Assert.True(exitCode == 0, $"exit {exitCode}\n{serve.Describe()}");
            Assert.Empty(Directory.GetFileSystemEntries(mountPoint));
        }
        finally
        {
            await ExternalTool.RunAsync("umount", ["-l", Path.Combine(directory, "mnt")], TimeSpan.FromSeconds(30));
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Sigterm_WithTheFileOpen_SaysAtOnceWhyItWaits_AndExitsWhenTheFileIsClosed()
    {
        FuseRequirements.RequireRootWithFuse();
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            await using CliProcess serve = BlkmqCli.Start(["serve", "--export", "disk=memory:size=1M", "--listen", "none", "--fuse", directory]);
            await using (FileStream open = await SigtermWithTheFileOpenAsync(serve))
            {
                Assert.True(serve.StandardError.Contains($"FUSE export {directory} is in use (a file is open: a loop device attached?); serving it until it is closed, at most 00:00:10, then unmounting by force (blkmq serve: SIGINT / SIGTERM again to do so now)", StringComparison.Ordinal), serve.Describe());
            }

            int exitCode = await serve.WaitForExitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
            Assert.True(exitCode == 0, $"exit {exitCode}\n{serve.Describe()}");
            Assert.DoesNotContain("connection aborted", serve.StandardError, StringComparison.Ordinal);
        }
        finally
        {
            await ExternalTool.RunAsync("umount", ["-l", directory], TimeSpan.FromSeconds(30));
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task SecondSigterm_WhileTheFileIsOpen_UnmountsByForceAtOnce_AndLeavesNothingMounted()
    {
        FuseRequirements.RequireRootWithFuse();
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            await using CliProcess serve = BlkmqCli.Start(["serve", "--export", "disk=memory:size=1M", "--listen", "none", "--fuse", directory]);
            await using FileStream open = await SigtermWithTheFileOpenAsync(serve);

            // The file stays open: without the second signal the server would serve it for 10 s more.
            long second = Environment.TickCount64;
            serve.Signal(Libc.SigTerm);
            int exitCode = await serve.WaitForExitAsync(TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
            Assert.True(exitCode == 0, $"exit {exitCode}\n{serve.Describe()}");
            Assert.True(Environment.TickCount64 - second < 5_000, serve.Describe());
            Assert.Contains("blkmq serve: stopping now, without waiting for open files and in-flight requests", serve.StandardError, StringComparison.Ordinal);
            Assert.Contains($"FUSE export {directory} still open, and asked to stop again: not waiting for it to be closed; connection aborted", serve.StandardError, StringComparison.Ordinal);
            Assert.Empty(MountTable.At(directory));
        }
        finally
        {
            await ExternalTool.RunAsync("umount", ["-l", directory], TimeSpan.FromSeconds(30));
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>Opens the served file, sends SIGTERM and waits (up to 5 s) for the server to say the file keeps it.</summary>
    /// <returns>The open file: the server goes on serving it until it is closed.</returns>
    private static async Task<FileStream> SigtermWithTheFileOpenAsync(CliProcess serve)
    {
        IReadOnlyList<string> lines = await serve.ReadLinesAsync(1, s_readyTimeout, TestContext.Current.CancellationToken);
        var open = new FileStream(lines[0], FileMode.Open, FileAccess.Read);
        serve.Signal(Libc.SigTerm);
        long deadline = Environment.TickCount64 + 5_000;
        while (!serve.StandardError.Contains("is in use", StringComparison.Ordinal) && Environment.TickCount64 < deadline)
        {
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }

        return open;
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task ListenNone_ServesOnlyTheFile_AndEndsWhenItIsUnmountedElsewhere()
    {
        ExternalTool.Require("umount");
        FuseRequirements.RequireRootWithFuse();
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            await using CliProcess serve = BlkmqCli.Start(["serve", "--export", "disk=null:size=1M", "--listen", "none", "--fuse", directory]);
            IReadOnlyList<string> lines = await serve.ReadLinesAsync(1, s_readyTimeout, TestContext.Current.CancellationToken);
            Assert.Equal(Path.Combine(directory, "disk"), lines[0]);
            await ExternalTool.RunCheckedAsync("umount", [directory], TimeSpan.FromSeconds(30));
            int exitCode = await serve.WaitForExitAsync(s_exitTimeout, TestContext.Current.CancellationToken);
            Assert.True(exitCode == 0, $"exit {exitCode}\n{serve.Describe()}");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Theory(Timeout = TestTimeoutMilliseconds)]
    [InlineData("--listen 127.0.0.1:0 --fuse /nonexistent/blkmq-mount", "is not an existing directory")]
    [InlineData("--listen none", "add --fuse DIR")]
    [InlineData("--listen none --export a/b=memory:size=1M --fuse /tmp", "'a/b' is not a valid file name.")]
    public async Task BadFuseArguments_EndWithAMessage_NotAStackTrace(string arguments, string expected)
    {
        ToolResult result = await BlkmqCli.RunAsync(["serve", "--export", "disk=null:size=1M", .. arguments.Split(' ')], TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains(expected, result.StandardError, StringComparison.Ordinal);
        Assert.DoesNotContain("(Parameter", result.StandardError, StringComparison.Ordinal);
        BlkmqCli.AssertNoStackTrace(result);
    }
}
