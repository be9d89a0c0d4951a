using System.Text.RegularExpressions;
using Blkmq.Integration.Tests.Cli.Interop;
using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests.Cli;

/// <summary>
/// <c>blkmq serve</c> with the file driver, on both engines, driven by real clients: qemu-img convert of a qcow2
/// into the export and qemu-img compare, nbdcopy in and out with sha256, nbdinfo --map showing the holes of a sparse
/// image, the data surviving SIGTERM and SIGKILL after a flush, ENOSPC on a small tmpfs reaching the client while the
/// server serves on, and clear one-line refusals of a locked and a missing image.
/// </summary>
[Collection("heavy")]
public sealed partial class ServeFileDriverTests
{
    private const int TestTimeoutMilliseconds = 180_000;
    private static readonly TimeSpan s_toolTimeout = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan s_readyTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan s_exitTimeout = TimeSpan.FromSeconds(15);

    public static TheoryData<string> Engines => new() { "threads", "io_uring" };

    [Theory(Timeout = TestTimeoutMilliseconds)]
    [MemberData(nameof(Engines))]
    public async Task QemuImgConvert_Qcow2IntoTheExport_CompareEqual_MapShowsHoles(string engine)
    {
        ExternalTool.Require("qemu-img", "qemu-io", "nbdinfo");
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string qcow2 = Path.Combine(directory, "source.qcow2");
            string image = Path.Combine(directory, "vm.img");
            await ExternalTool.RunCheckedAsync("qemu-img", ["create", "-q", "-f", "qcow2", qcow2, "64M"], s_toolTimeout);
            await ExternalTool.RunCheckedAsync("qemu-io", ["-f", "qcow2", "-c", "write -P 0xab 1M 2M", "-c", "write -P 0x5c 40M 512k", qcow2], s_toolTimeout);

            await using CliProcess serve = await StartAsync(engine, image, "create=64M");
            string uri = (await serve.ReadLinesAsync(1, s_readyTimeout, TestContext.Current.CancellationToken))[0];
            await ExternalTool.RunCheckedAsync("qemu-img", ["convert", "-n", "-f", "qcow2", "-O", "raw", qcow2, uri], s_toolTimeout);
            await ExternalTool.RunCheckedAsync("qemu-img", ["compare", "-f", "qcow2", "-F", "raw", qcow2, uri], s_toolTimeout);

            ToolResult map = await ExternalTool.RunCheckedAsync("nbdinfo", ["--map", uri], s_toolTimeout);
            Assert.Matches(@"(?m)^\s+0\s+1048576\s+3\s+hole,zero", map.StandardOutput);
            Assert.Matches(@"(?m)^\s+1048576\s+2097152\s+0\s+data", map.StandardOutput);
            await StopAsync(serve, Libc.SigTerm);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Theory(Timeout = TestTimeoutMilliseconds)]
    [MemberData(nameof(Engines))]
    public async Task NbdCopy_InAndOut_Sha256Equal_DataSurvivesSigtermAndRestart(string engine)
    {
        ExternalTool.Require("nbdcopy");
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            const long Size = 32L << 20;
            string source = Path.Combine(directory, "source.bin");
            string image = Path.Combine(directory, "vm.img");
            string copy = Path.Combine(directory, "copy.bin");
            await TestFiles.WriteRandomAsync(source, Size, seed: 17);
            string expected = await TestFiles.Sha256Async(source);

            await using (CliProcess serve = await StartAsync(engine, image, "create=32M"))
            {
                string uri = (await serve.ReadLinesAsync(1, s_readyTimeout, TestContext.Current.CancellationToken))[0];
                await ExternalTool.RunCheckedAsync("nbdcopy", ["--connections=2", "--requests=16", "--flush", source, uri], s_toolTimeout);
                await StopAsync(serve, Libc.SigTerm);
            }

            Assert.Equal(expected, await TestFiles.Sha256Async(image));

            await using (CliProcess again = await StartAsync(engine, image, string.Empty))
            {
                string uri = (await again.ReadLinesAsync(1, s_readyTimeout, TestContext.Current.CancellationToken))[0];
                await ExternalTool.RunCheckedAsync("nbdcopy", [uri, copy], s_toolTimeout);
                await StopAsync(again, Libc.SigTerm);
            }

            Assert.Equal(expected, await TestFiles.Sha256Async(copy));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Theory(Timeout = TestTimeoutMilliseconds)]
    [MemberData(nameof(Engines))]
    public async Task Sigkill_AfterAFlush_DataSurvives(string engine)
    {
        ExternalTool.Require("qemu-io");
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string image = Path.Combine(directory, "vm.img");
            await using (CliProcess serve = await StartAsync(engine, image, "create=16M"))
            {
                string uri = (await serve.ReadLinesAsync(1, s_readyTimeout, TestContext.Current.CancellationToken))[0];
                await ExternalTool.RunCheckedAsync("qemu-io", ["-f", "raw", "-c", "write -P 0x77 1M 1M", "-c", "write -P 0x33 5M 64k", "-c", "flush", uri], s_toolTimeout);
                serve.Signal(Libc.SigKill);
                await serve.WaitForExitAsync(s_exitTimeout, TestContext.Current.CancellationToken);
            }

            await using (CliProcess again = await StartAsync(engine, image, string.Empty))
            {
                string uri = (await again.ReadLinesAsync(1, s_readyTimeout, TestContext.Current.CancellationToken))[0];
                ToolResult read = await ExternalTool.RunCheckedAsync("qemu-io", ["-f", "raw", "-c", "read -P 0x77 1M 1M", "-c", "read -P 0x33 5M 64k", "-c", "read -P 0 0 1M", uri], s_toolTimeout);
                Assert.DoesNotContain("fail", read.StandardOutput + read.StandardError, StringComparison.OrdinalIgnoreCase);
                Assert.Contains("read 1048576/1048576", read.StandardOutput, StringComparison.Ordinal);
                await StopAsync(again, Libc.SigTerm);
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Theory(Timeout = TestTimeoutMilliseconds)]
    [MemberData(nameof(Engines))]
    public async Task Enospc_OnASmallTmpfs_ReachesTheClient_ServerServesOn(string engine)
    {
        ExternalTool.Require("qemu-io", "mount", "umount", "nbdinfo");
        Assert.SkipUnless(Environment.IsPrivilegedProcess, "mounting a tmpfs needs root");
        string directory = BlkmqCli.CreateTempDirectory();
        string mount = Path.Combine(directory, "tmpfs");
        Directory.CreateDirectory(mount);
        ToolResult mounted = await ExternalTool.RunAsync("mount", ["-t", "tmpfs", "-o", "size=4M", "tmpfs", mount], s_toolTimeout);
        Assert.SkipWhen(mounted.ExitCode != 0 && !ExternalTool.IsCi, "cannot mount a tmpfs here: " + mounted.StandardError);
        Assert.Equal(0, mounted.ExitCode);
        try
        {
            string image = Path.Combine(mount, "vm.img");
            await using CliProcess serve = await StartAsync(engine, image, "create=16M");
            string uri = (await serve.ReadLinesAsync(1, s_readyTimeout, TestContext.Current.CancellationToken))[0];

            // Written while the tmpfs has room. Which parts of the 8 MiB write below fit is up to the engine (the
            // threads engine's workers write its requests in any order), so the check reads this range instead.
            await ExternalTool.RunCheckedAsync("qemu-io", ["-f", "raw", "-c", "write -P 0x42 0 64k", "-c", "flush", uri], s_toolTimeout);
            ToolResult full = await ExternalTool.RunAsync("qemu-io", ["-f", "raw", "-c", "write -P 0x43 1M 8M", uri], s_toolTimeout);
            Assert.Contains("No space left on device", full.StandardOutput + full.StandardError, StringComparison.Ordinal);

            // The server serves on: what was written before reads back, and a new client connects.
            ToolResult read = await ExternalTool.RunCheckedAsync("qemu-io", ["-f", "raw", "-c", "read -P 0x42 0 64k", uri], s_toolTimeout);
            Assert.DoesNotContain("fail", read.StandardOutput, StringComparison.OrdinalIgnoreCase);
            await ExternalTool.RunCheckedAsync("nbdinfo", [uri], s_toolTimeout);
            await StopAsync(serve, Libc.SigTerm);
        }
        finally
        {
            await ExternalTool.RunAsync("umount", [mount], s_toolTimeout);
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task SecondServerOnALockedImage_RefusedWithOneLine_FirstServesOn()
    {
        ExternalTool.Require("nbdinfo");
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string image = Path.Combine(directory, "vm.img");
            await using CliProcess first = await StartAsync("auto", image, "create=8M");
            string uri = (await first.ReadLinesAsync(1, s_readyTimeout, TestContext.Current.CancellationToken))[0];

            ToolResult second = await BlkmqCli.RunAsync(["serve", "--listen", "127.0.0.1:0", "--export", $"vm=file:path={image}"], s_readyTimeout, TestContext.Current.CancellationToken);
            Assert.Equal(1, second.ExitCode);
            Assert.Equal($"blkmq serve: {image}: locked by another server or another export of this one (one writer per image; readers share it with readonly=1).", second.StandardError.Trim());
            BlkmqCli.AssertNoStackTrace(second);

            await ExternalTool.RunCheckedAsync("nbdinfo", [uri], s_toolTimeout);
            await StopAsync(first, Libc.SigTerm);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Theory(Timeout = TestTimeoutMilliseconds)]
    [InlineData("image")]
    [InlineData("export")]
    [InlineData("stack")]
    public async Task ReadOnlyServer_OpensTheImageReadOnly_ASecondReaderSharesIt(string form)
    {
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string image = Path.Combine(directory, "ro.img");
            await using (var file = new FileStream(image, FileMode.CreateNew))
            {
                file.SetLength(32L << 20);
            }

            string[] export = form switch
            {
                "image" => [image],
                "export" => ["--export", $"ro=file:path={image}"],
                _ => ["--export", $"ro=file:path={image}|stats"],
            };
            await using CliProcess first = BlkmqCli.Start(["serve", "--read-only", "--listen", "unix:" + Path.Combine(directory, "ro.sock"), .. export]);
            await first.ReadLinesAsync(1, s_readyTimeout, TestContext.Current.CancellationToken);

            // --read-only reaches the driver: the image is open O_RDONLY (the access mode is the flags' low two bits).
            int flags = OpenFlags(first.Id, image);
            Assert.True((flags & 3) == 0, $"{image} is open with flags {Convert.ToString(flags, 8)}\n{first.Describe()}");

            // So the lock is a reader's: a second reader serves the image too.
            await using CliProcess second = BlkmqCli.Start(["serve", "--listen", "unix:" + Path.Combine(directory, "r2.sock"), "--export", $"r2=file:path={image},readonly=1"]);
            await second.ReadLinesAsync(1, s_readyTimeout, TestContext.Current.CancellationToken);
            await StopAsync(second, Libc.SigTerm);
            await StopAsync(first, Libc.SigTerm);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task QemuAndBlkmq_RefuseEachOthersImage_AsTwoQemusWould()
    {
        ExternalTool.Require("qemu-nbd", "qemu-io");
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string image = Path.Combine(directory, "vm.img");
            string socket = Path.Combine(directory, "qemu.sock");
            await File.WriteAllBytesAsync(image, new byte[16 << 20], TestContext.Current.CancellationToken);

            // qemu-nbd holds the image (qemu's byte-range locks): blkmq refuses it in one line, as a second qemu would.
            await using (CliProcess qemu = CliProcess.Start(ExternalTool.Find("qemu-nbd")!, ["-f", "raw", "-k", socket, "--persistent", image]))
            {
                Assert.True(SpinWait.SpinUntil(() => File.Exists(socket), s_readyTimeout), $"qemu-nbd did not start\n{qemu.Describe()}");
                ToolResult refused = await BlkmqCli.RunAsync(["serve", "--listen", "127.0.0.1:0", image], s_readyTimeout, TestContext.Current.CancellationToken);
                Assert.Equal(1, refused.ExitCode);
                Assert.StartsWith($"blkmq serve: {image}: in use by a program that locks images as qemu does", refused.StandardError.Trim(), StringComparison.Ordinal);
                Assert.Single(refused.StandardError.Trim().Split('\n'));
                BlkmqCli.AssertNoStackTrace(refused);
                qemu.Signal(Libc.SigTerm);
                await qemu.WaitForExitAsync(s_exitTimeout, TestContext.Current.CancellationToken);
            }

            // blkmq serves it: qemu-io cannot open it for writing; once blkmq has stopped, it can.
            await using (CliProcess serve = BlkmqCli.Start(["serve", "--listen", "127.0.0.1:0", image]))
            {
                await serve.ReadLinesAsync(1, s_readyTimeout, TestContext.Current.CancellationToken);
                ToolResult write = await ExternalTool.RunAsync("qemu-io", ["-f", "raw", "-c", "write 0 4k", image], s_toolTimeout);
                Assert.NotEqual(0, write.ExitCode);
                Assert.Contains("lock", write.StandardError, StringComparison.Ordinal);
                await StopAsync(serve, Libc.SigTerm);
            }

            await ExternalTool.RunCheckedAsync("qemu-io", ["-f", "raw", "-c", "write 0 4k", image], s_toolTimeout);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task MissingImage_RefusedWithOneLine()
    {
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string image = Path.Combine(directory, "missing.img");
            ToolResult result = await BlkmqCli.RunAsync(["serve", "--listen", "127.0.0.1:0", image], s_readyTimeout, TestContext.Current.CancellationToken);
            Assert.Equal(1, result.ExitCode);
            Assert.Equal($"blkmq serve: {image}: no such file (create=SIZE makes a sparse one).", result.StandardError.Trim());
            BlkmqCli.AssertNoStackTrace(result);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task ServeFile_ShortestForm_ExportNamedAfterTheFile()
    {
        ExternalTool.Require("nbdinfo");
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string image = Path.Combine(directory, "disk.img");
            await File.WriteAllBytesAsync(image, new byte[4 << 20], TestContext.Current.CancellationToken);
            await using CliProcess serve = BlkmqCli.Start(["serve", "--listen", "127.0.0.1:0", image]);
            string uri = (await serve.ReadLinesAsync(1, s_readyTimeout, TestContext.Current.CancellationToken))[0];
            Assert.Matches(ExportUri(), uri);
            ToolResult info = await ExternalTool.RunCheckedAsync("nbdinfo", [uri], s_toolTimeout);
            Assert.Contains("export-size: 4194304", info.StandardOutput, StringComparison.Ordinal);
            Assert.Matches("engine (io_uring|threads)", serve.StandardError);
            await StopAsync(serve, Libc.SigTerm);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task ServeImagesOfOtherFormats_EachIsNamedInAWarning_AndServedRaw()
    {
        ExternalTool.Require("qemu-img", "nbdinfo");
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string[] formats = ["qcow2", "qcow", "qed", "vmdk", "vdi", "vhdx", "vpc", "raw"];
            var arguments = new List<string> { "serve", "--listen", "127.0.0.1:0" };
            foreach (string format in formats)
            {
                string image = Path.Combine(directory, "guest." + format);
                await ExternalTool.RunCheckedAsync("qemu-img", ["create", "-q", "-f", format, image, "8M"], s_toolTimeout);
                arguments.AddRange(["--export", $"{format}=file:path={image},readonly=1"]);
            }

            await using CliProcess serve = BlkmqCli.Start(arguments);
            IReadOnlyList<string> uris = await serve.ReadLinesAsync(formats.Length, s_readyTimeout, TestContext.Current.CancellationToken);
            foreach (string format in formats.Where(static f => f != "raw"))
            {
                string image = Path.Combine(directory, "guest." + format);
                Assert.Contains($"{image} starts with a {format} header; Blkmq serves the bytes as they are (raw)", serve.StandardError, StringComparison.Ordinal);
            }

            Assert.DoesNotContain("guest.raw starts with", serve.StandardError, StringComparison.Ordinal);

            // Raw: the export is the container's bytes (what nbdkit's file plugin does), not the 8 MiB disk inside.
            string qcow2Uri = uris.Single(static uri => uri.EndsWith("/qcow2", StringComparison.Ordinal));
            ToolResult info = await ExternalTool.RunCheckedAsync("nbdinfo", ["--size", qcow2Uri], s_toolTimeout);
            long size = new FileInfo(Path.Combine(directory, "guest.qcow2")).Length;
            Assert.Equal(size - (size % 512), long.Parse(info.StandardOutput.Trim(), System.Globalization.CultureInfo.InvariantCulture));
            await StopAsync(serve, Libc.SigTerm);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static async Task<CliProcess> StartAsync(string engine, string image, string extra)
    {
        string parameters = $"path={image},engine={engine}" + (extra.Length > 0 ? "," + extra : string.Empty);
        await Task.CompletedTask;
        return BlkmqCli.Start(["serve", "--listen", "127.0.0.1:0", "--export", "vm=file:" + parameters]);
    }

    /// <summary>The flags (<c>/proc/PID/fdinfo</c>) of the descriptor process <paramref name="pid"/> has open on <paramref name="path"/>.</summary>
    private static int OpenFlags(int pid, string path)
    {
        foreach (string fd in Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd"))
        {
            if (new FileInfo(fd).LinkTarget == path)
            {
                string flags = File.ReadLines($"/proc/{pid}/fdinfo/{Path.GetFileName(fd)}").First(static l => l.StartsWith("flags:", StringComparison.Ordinal));
                return Convert.ToInt32(flags["flags:".Length..].Trim(), 8);
            }
        }

        Assert.Fail($"process {pid} does not have {path} open");
        return 0;
    }

    private static async Task StopAsync(CliProcess serve, int signal)
    {
        serve.Signal(signal);
        int exitCode = await serve.WaitForExitAsync(s_exitTimeout, TestContext.Current.CancellationToken);
        Assert.True(exitCode == 0, $"exit {exitCode}\n{serve.Describe()}");
    }

    [GeneratedRegex(@"^nbd://127\.0\.0\.1:\d+/disk$")]
    private static partial Regex ExportUri();
}
