using System.Globalization;
using Blkmq.Integration.Tests.Cli.Interop;
using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests.Cli;

/// <summary>
/// <c>blkmq serve</c> with the file driver, on both engines, in the places users put it: a loop device over a tmpfs
/// file (read-write, and read-only), fio <c>--verify=crc32c</c> at depth 32 through fio's NBD engine and through the
/// FUSE file, nbdcopy of a mostly empty 8 GiB sparse image (the holes are not read), and a backing file whose device
/// stops answering (a FUSE file whose server is stopped): the timeout fires, the IO ends once the device answers,
/// and the server serves on and stops cleanly.
/// </summary>
[Collection("heavy")]
public sealed class ServeFileDriverClientTests
{
    private const int TestTimeoutMilliseconds = 240_000;
    private static readonly TimeSpan s_toolTimeout = TimeSpan.FromSeconds(120);
    private static readonly TimeSpan s_readyTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan s_exitTimeout = TimeSpan.FromSeconds(20);

    public static TheoryData<string> Engines => new() { "threads", "io_uring" };

    [Theory(Timeout = TestTimeoutMilliseconds)]
    [MemberData(nameof(Engines))]
    public async Task LoopDeviceOnTmpfs_NbdCopyInAndOut_Sha256Equal_WriteZeroesReadsZero(string engine)
    {
        ExternalTool.Require("losetup", "mount", "umount", "nbdcopy", "nbdinfo", "qemu-io");
        FuseRequirements.RequireRootWithFuse();
        const long Size = 32L << 20;
        string directory = BlkmqCli.CreateTempDirectory();
        string tmpfs = await MountTmpfsAsync(directory, "80M");
        string? loop = null;
        try
        {
            string backing = Path.Combine(tmpfs, "backing.img");
            await using (var file = new FileStream(backing, FileMode.CreateNew))
            {
                file.SetLength(Size);
            }

            loop = await AttachLoopAsync(backing, readOnly: false);
            string source = Path.Combine(directory, "source.bin");
            string copy = Path.Combine(directory, "copy.bin");
            await TestFiles.WriteRandomAsync(source, Size, seed: 23);
            string expected = await TestFiles.Sha256Async(source);

            await using CliProcess serve = Start($"vm=file:path={loop},engine={engine}");
            string uri = (await serve.ReadLinesAsync(1, s_readyTimeout, TestContext.Current.CancellationToken))[0];
            Assert.Contains(loop + " (block device", serve.StandardError, StringComparison.Ordinal);
            ToolResult info = await ExternalTool.RunCheckedAsync("nbdinfo", [uri], s_toolTimeout);
            Assert.Contains("export-size: " + Size.ToString(CultureInfo.InvariantCulture), info.StandardOutput, StringComparison.Ordinal);

            await ExternalTool.RunCheckedAsync("nbdcopy", ["--connections=2", "--requests=16", "--flush", source, uri], s_toolTimeout);
            await ExternalTool.RunCheckedAsync("nbdcopy", [uri, copy], s_toolTimeout);
            Assert.Equal(expected, await TestFiles.Sha256Async(copy));

            // Write zeroes on a device is BLKZEROOUT; the zeroes reach the tmpfs file behind the loop device.
            await ExternalTool.RunCheckedAsync("qemu-io", ["-f", "raw", "-c", "write -z 1M 1M", "-c", "flush", "-c", "read -P 0 1M 1M", uri], s_toolTimeout);
            await StopAsync(serve);
            await ExternalTool.RunCheckedAsync("losetup", ["--detach", loop], s_toolTimeout);
            loop = null;
            byte[] zeroed = new byte[1 << 20];
            await using (var file = new FileStream(backing, FileMode.Open, FileAccess.Read))
            {
                file.Position = 1 << 20;
                await file.ReadExactlyAsync(zeroed, TestContext.Current.CancellationToken);
            }

            Assert.True(zeroed.AsSpan().IndexOfAnyExcept((byte)0) < 0, "the zeroed range is zero in the backing file");
            Assert.Equal(expected, await TestFiles.Sha256Async(source));
        }
        finally
        {
            await CleanUpAsync(directory, tmpfs, loop);
        }
    }

    [Theory(Timeout = TestTimeoutMilliseconds)]
    [MemberData(nameof(Engines))]
    public async Task ReadOnlyLoopDevice_ServedReadOnly_ReadsBack_WritesRefused(string engine)
    {
        ExternalTool.Require("losetup", "mount", "umount", "nbdinfo", "qemu-io");
        FuseRequirements.RequireRootWithFuse();
        string directory = BlkmqCli.CreateTempDirectory();
        string tmpfs = await MountTmpfsAsync(directory, "32M");
        string? loop = null;
        try
        {
            string backing = Path.Combine(tmpfs, "backing.img");
            byte[] content = new byte[8 << 20];
            content.AsSpan().Fill(0x6b);
            await File.WriteAllBytesAsync(backing, content, TestContext.Current.CancellationToken);
            loop = await AttachLoopAsync(backing, readOnly: true);

            await using CliProcess serve = Start($"vm=file:path={loop},engine={engine}");
            string uri = (await serve.ReadLinesAsync(1, s_readyTimeout, TestContext.Current.CancellationToken))[0];
            Assert.Contains("read-only", serve.StandardError, StringComparison.Ordinal);
            ToolResult info = await ExternalTool.RunCheckedAsync("nbdinfo", [uri], s_toolTimeout);
            Assert.Contains("is_read_only: true", info.StandardOutput, StringComparison.Ordinal);

            ToolResult read = await ExternalTool.RunCheckedAsync("qemu-io", ["-r", "-f", "raw", "-c", "read -P 0x6b 0 8M", uri], s_toolTimeout);
            Assert.Contains("read 8388608/8388608", read.StandardOutput, StringComparison.Ordinal);
            ToolResult write = await ExternalTool.RunAsync("qemu-io", ["-f", "raw", "-c", "write -P 0x11 0 64k", uri], s_toolTimeout);
            Assert.False(write.ExitCode == 0 && write.StandardOutput.Contains("wrote 65536/65536", StringComparison.Ordinal), "a write to a read-only disk is refused:\n" + write.StandardOutput + write.StandardError);
            // qemu sees the export's read-only flag and refuses to open it for writing.
            Assert.Contains("Permission denied", write.StandardOutput + write.StandardError, StringComparison.Ordinal);

            // The server serves on, and the device kept its bytes.
            await ExternalTool.RunCheckedAsync("qemu-io", ["-r", "-f", "raw", "-c", "read -P 0x6b 0 64k", uri], s_toolTimeout);
            await StopAsync(serve);
            byte[] after = await File.ReadAllBytesAsync(backing, TestContext.Current.CancellationToken);
            Assert.True(content.AsSpan().SequenceEqual(after), "the read-only device kept its bytes");
        }
        finally
        {
            await CleanUpAsync(directory, tmpfs, loop);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task MountedLoopDevice_ServedForWriting_RefusedInOneLine_ReadOnlyServes_AWriterHoldsItExclusively()
    {
        ExternalTool.Require("losetup", "mkfs.ext4", "mount", "umount");
        RequireRootWithLoop();
        string directory = BlkmqCli.CreateTempDirectory();
        string tmpfs = await MountTmpfsAsync(directory, "40M");
        string mountPoint = Path.Combine(directory, "ext4");
        Directory.CreateDirectory(mountPoint);
        string? loop = null;
        bool mounted = false;
        try
        {
            string backing = Path.Combine(tmpfs, "backing.img");
            await using (var file = new FileStream(backing, FileMode.CreateNew))
            {
                file.SetLength(32L << 20);
            }

            loop = await AttachLoopAsync(backing, readOnly: false);
            await ExternalTool.RunCheckedAsync("mkfs.ext4", ["-q", "-F", loop], s_toolTimeout);
            await ExternalTool.RunCheckedAsync("mount", [loop, mountPoint], s_toolTimeout);
            mounted = true;
            string inUse = $"blkmq serve: {loop} is in use (mounted or held by another program): serve it with readonly=1, or unmount it first.";

            ToolResult refused = await BlkmqCli.RunAsync(["serve", "--listen", "127.0.0.1:0", "--export", $"m=file:path={loop}"], s_readyTimeout, TestContext.Current.CancellationToken);
            Assert.True(refused.ExitCode == 1, $"exit {refused.ExitCode}\n{refused.StandardError}");
            Assert.Equal(inUse, refused.StandardError.Trim());
            BlkmqCli.AssertNoStackTrace(refused);

            // Reading a mounted device harms nobody: readonly=1 opens it without the claim.
            await using (CliProcess reader = Start($"m=file:path={loop},readonly=1"))
            {
                await reader.ReadLinesAsync(1, s_readyTimeout, TestContext.Current.CancellationToken);
                await StopAsync(reader);
            }

            await ExternalTool.RunCheckedAsync("umount", [mountPoint], s_toolTimeout);
            mounted = false;

            // Unmounted, a writer serves it, and holds it: a second writer is refused the same way.
            await using CliProcess writer = Start($"m=file:path={loop}");
            await writer.ReadLinesAsync(1, s_readyTimeout, TestContext.Current.CancellationToken);
            ToolResult second = await BlkmqCli.RunAsync(["serve", "--listen", "127.0.0.1:0", "--export", $"n=file:path={loop}"], s_readyTimeout, TestContext.Current.CancellationToken);
            Assert.True(second.ExitCode == 1, $"exit {second.ExitCode}\n{second.StandardError}");
            Assert.Equal(inUse, second.StandardError.Trim());
            await StopAsync(writer);
        }
        finally
        {
            if (mounted)
            {
                await ExternalTool.RunAsync("umount", ["-l", mountPoint], s_toolTimeout);
            }

            await CleanUpAsync(directory, tmpfs, loop);
        }
    }

    [Theory(Timeout = TestTimeoutMilliseconds)]
    [InlineData("1")]
    [InlineData("0")]
    public async Task LoopDevice_RotationalAsItsQueueSays_ReportedOverNbd(string rotational)
    {
        ExternalTool.Require("losetup", "mount", "umount", "nbdinfo");
        RequireRootWithLoop();
        string directory = BlkmqCli.CreateTempDirectory();
        string tmpfs = await MountTmpfsAsync(directory, "16M");
        string? loop = null;
        try
        {
            string backing = Path.Combine(tmpfs, "backing.img");
            await using (var file = new FileStream(backing, FileMode.CreateNew))
            {
                file.SetLength(8L << 20);
            }

            loop = await AttachLoopAsync(backing, readOnly: false);
            string queue = $"/sys/block/{Path.GetFileName(loop)}/queue/rotational";
            if ((await File.ReadAllTextAsync(queue, TestContext.Current.CancellationToken)).Trim() != rotational)
            {
                // A loop device starts rotational; 0 needs sysfs written (read-only in some containers).
                try
                {
                    await File.WriteAllTextAsync(queue, rotational, TestContext.Current.CancellationToken);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    Assert.Skip($"cannot set {queue} to {rotational}: {ex.Message}");
                }
            }

            await using CliProcess serve = Start($"vm=file:path={loop}");
            string uri = (await serve.ReadLinesAsync(1, s_readyTimeout, TestContext.Current.CancellationToken))[0];
            ToolResult info = await ExternalTool.RunCheckedAsync("nbdinfo", ["--json", uri], s_toolTimeout);
            Assert.Contains($"\"is_rotational\": {(rotational == "1" ? "true" : "false")}", info.StandardOutput, StringComparison.Ordinal);
            await StopAsync(serve);
        }
        finally
        {
            await CleanUpAsync(directory, tmpfs, loop);
        }
    }

    [Theory(Timeout = TestTimeoutMilliseconds)]
    [MemberData(nameof(Engines))]
    public async Task FioVerifyCrc32c_Depth32_ThroughNbdAndThroughTheFuseFile(string engine)
    {
        ExternalTool.Require("fio", "umount");
        FuseRequirements.RequireRootWithFuse();
        string directory = BlkmqCli.CreateTempDirectory();
        string mountPoint = Path.Combine(directory, "mnt");
        Directory.CreateDirectory(mountPoint);
        try
        {
            string image = Path.Combine(directory, "vm.img");
            await using CliProcess serve = Start($"vm=file:path={image},engine={engine},create=64M", "--fuse", mountPoint);
            IReadOnlyList<string> lines = await serve.ReadLinesAsync(2, s_readyTimeout, TestContext.Current.CancellationToken);
            string uri = lines[0];
            string fuseFile = lines[1];
            Assert.Equal(Path.Combine(mountPoint, "vm"), fuseFile);

            ToolResult nbd = await ExternalTool.RunAsync(
                "fio",
                ["--name=nbd-verify", "--ioengine=nbd", "--uri=" + uri, "--rw=randwrite", "--bs=4k", "--iodepth=32", "--size=24m",
                 "--verify=crc32c", "--do_verify=1", "--verify_fatal=1", "--randseed=5"],
                s_toolTimeout);
            Assert.True(nbd.ExitCode == 0 && nbd.StandardOutput.Contains("err= 0", StringComparison.Ordinal), "fio nbd:\n" + nbd.StandardOutput + nbd.StandardError);
            Assert.DoesNotContain("verify:", nbd.StandardError, StringComparison.Ordinal);

            ToolResult fuse = await ExternalTool.RunAsync(
                "fio",
                ["--name=fuse-verify", "--filename=" + fuseFile, "--ioengine=io_uring", "--direct=1", "--rw=randwrite", "--bs=4k", "--iodepth=32",
                 "--offset=32m", "--size=24m", "--verify=crc32c", "--do_verify=1", "--verify_fatal=1", "--randseed=6"],
                s_toolTimeout);
            Assert.True(fuse.ExitCode == 0 && fuse.StandardOutput.Contains("err= 0", StringComparison.Ordinal), "fio on the FUSE file:\n" + fuse.StandardOutput + fuse.StandardError);
            Assert.DoesNotContain("verify:", fuse.StandardError, StringComparison.Ordinal);

            // What fio wrote through FUSE is in the image file itself once the server has stopped.
            byte[] throughFuse = new byte[4096];
            await using (var file = new FileStream(fuseFile, FileMode.Open, FileAccess.Read))
            {
                file.Position = 40L << 20;
                await file.ReadExactlyAsync(throughFuse, TestContext.Current.CancellationToken);
            }

            await StopAsync(serve);
            byte[] inImage = new byte[4096];
            await using (var file = new FileStream(image, FileMode.Open, FileAccess.Read))
            {
                file.Position = 40L << 20;
                await file.ReadExactlyAsync(inImage, TestContext.Current.CancellationToken);
            }

            Assert.True(throughFuse.AsSpan().IndexOfAnyExcept((byte)0) >= 0, "fio wrote the range");
            Assert.True(throughFuse.AsSpan().SequenceEqual(inImage), "the FUSE file's bytes are the image's");
        }
        finally
        {
            await ExternalTool.RunAsync("umount", ["-l", mountPoint], s_toolTimeout);
            Directory.Delete(directory, recursive: true);
        }
    }

    [Theory(Timeout = TestTimeoutMilliseconds)]
    [MemberData(nameof(Engines))]
    public async Task NbdCopy_MostlyEmpty8GiBImage_CopiesTheData_DoesNotReadTheHoles(string engine)
    {
        ExternalTool.Require("nbdcopy", "qemu-io", "mount", "umount");
        FuseRequirements.RequireRootWithFuse();
        const long Size = 8L << 30;
        string directory = BlkmqCli.CreateTempDirectory();
        // Source and copy live on a 64 MiB tmpfs: an 8 GiB copy that wrote its holes out would not fit.
        string tmpfs = await MountTmpfsAsync(directory, "64M");
        try
        {
            string image = Path.Combine(tmpfs, "big.img");
            string copy = Path.Combine(tmpfs, "copy.img");
            long[] offsets = [0, 4L << 30, Size - (1 << 20)];
            await using CliProcess serve = Start($"vm=file:path={image},engine={engine},create=8G");
            string uri = (await serve.ReadLinesAsync(1, s_readyTimeout, TestContext.Current.CancellationToken))[0];
            await ExternalTool.RunCheckedAsync("qemu-io", ["-f", "raw", .. offsets.SelectMany((o, i) => new[] { "-c", $"write -P 0x{0x51 + i:x} {o} 1M" }), "-c", "flush", uri], s_toolTimeout);

            long readBefore = ReadCharacters(serve.Id);
            await ExternalTool.RunCheckedAsync("nbdcopy", [uri, copy], s_toolTimeout);
            long readByServer = ReadCharacters(serve.Id) - readBefore;
            await StopAsync(serve);

            Assert.Equal(Size, new FileInfo(copy).Length);
            await using (var file = new FileStream(copy, FileMode.Open, FileAccess.Read))
            {
                byte[] block = new byte[1 << 20];
                for (int i = 0; i < offsets.Length; i++)
                {
                    file.Position = offsets[i];
                    await file.ReadExactlyAsync(block, TestContext.Current.CancellationToken);
                    Assert.True(block.AsSpan().IndexOfAnyExcept((byte)(0x51 + i)) < 0, $"the data at {offsets[i]} was copied");
                }

                file.Position = 2L << 30;
                await file.ReadExactlyAsync(block, TestContext.Current.CancellationToken);
                Assert.True(block.AsSpan().IndexOfAnyExcept((byte)0) < 0, "a hole reads as zeroes in the copy");
            }

            // The threads engine reads with preadv2, which the kernel counts in /proc/PID/io (io_uring's reads are not
            // counted there): the server read a few MiB of data, not the 8 GiB of holes.
            if (engine == "threads")
            {
                Assert.True(readByServer < 64L << 20, $"the server read {readByServer} bytes from files for the copy");
            }
        }
        finally
        {
            await CleanUpAsync(directory, tmpfs, loop: null);
        }
    }

    [Theory(Timeout = TestTimeoutMilliseconds)]
    [MemberData(nameof(Engines))]
    public async Task BackingFileStopsAnswering_TimeoutFires_IoEndsWhenItAnswers_ServerServesOnAndStops(string engine)
    {
        ExternalTool.Require("qemu-io", "umount");
        FuseRequirements.RequireRootWithFuse();
        string directory = BlkmqCli.CreateTempDirectory();
        string mountPoint = Path.Combine(directory, "mnt");
        Directory.CreateDirectory(mountPoint);
        CliProcess? device = null;
        bool stopped = false;
        try
        {
            // The "device": a memory disk exported as a FUSE file by another server, which the test stops with SIGSTOP.
            device = BlkmqCli.Start(["serve", "--export", "slow=memory:size=16M", "--listen", "none", "--fuse", mountPoint]);
            string backing = (await device.ReadLinesAsync(1, s_readyTimeout, TestContext.Current.CancellationToken))[0];

            await using CliProcess serve = Start($"vm=file:path={backing},engine={engine},direct=off,timeout=2");
            string uri = (await serve.ReadLinesAsync(1, s_readyTimeout, TestContext.Current.CancellationToken))[0];
            await ExternalTool.RunCheckedAsync("qemu-io", ["-f", "raw", "-c", "write -P 0x61 0 64k", "-c", "flush", uri], s_toolTimeout);

            device.Signal(Libc.SigStop);
            stopped = true;
            // 8 MiB was never read: not in the page cache, so the read goes to the stopped FUSE server and waits.
            Task<ToolResult> stuck = ExternalTool.RunAsync("qemu-io", ["-r", "-f", "raw", "-c", "read 8M 64k", uri], s_toolTimeout);
            string expected = engine == "io_uring" ? "io_uring cancel submitted" : "a worker is still in its system call";
            await WaitForAsync(() => serve.StandardError.Contains(expected, StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the timeout of the stuck read\n" + serve.Describe());
            Assert.False(stuck.IsCompleted, "the read waits for the device, whose buffers the kernel still holds");

            device.Signal(Libc.SigCont);
            stopped = false;
            ToolResult answered = await stuck;
            Assert.True(answered.ExitCode == 0, "qemu-io ended:\n" + answered.StandardOutput + answered.StandardError);

            // The server serves on: the earlier data reads back, and a new write lands.
            await ExternalTool.RunCheckedAsync("qemu-io", ["-f", "raw", "-c", "read -P 0x61 0 64k", "-c", "write -P 0x62 1M 64k", "-c", "read -P 0x62 1M 64k", uri], s_toolTimeout);
            await StopAsync(serve);
            Assert.DoesNotContain("Unhandled", serve.StandardError, StringComparison.Ordinal);
            await StopAsync(device);
        }
        finally
        {
            if (stopped && device is not null)
            {
                _ = Libc.Kill(device.Id, Libc.SigCont);
            }

            if (device is not null)
            {
                await device.DisposeAsync();
            }

            await ExternalTool.RunAsync("umount", ["-l", mountPoint], s_toolTimeout);
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>Skips the test (fails it under <c>CI=true</c>) unless loop devices can be attached: root and <c>/dev/loop-control</c>.</summary>
    private static void RequireRootWithLoop()
    {
        string? missing = Environment.UserName != "root" ? "root (for mount and losetup)" : !File.Exists("/dev/loop-control") ? "/dev/loop-control" : null;
        if (missing is not null)
        {
            Assert.False(ExternalTool.IsCi, $"This test needs {missing}.");
            Assert.Skip($"This test needs {missing}.");
        }
    }

    private static CliProcess Start(string export, params string[] extra) =>
        BlkmqCli.Start(["serve", "--listen", "127.0.0.1:0", "--export", export, .. extra]);

    private static async Task StopAsync(CliProcess serve)
    {
        serve.Signal(Libc.SigTerm);
        int exitCode = await serve.WaitForExitAsync(s_exitTimeout, TestContext.Current.CancellationToken);
        Assert.True(exitCode == 0, $"exit {exitCode}\n{serve.Describe()}");
    }

    private static async Task<string> MountTmpfsAsync(string directory, string size)
    {
        string mount = Path.Combine(directory, "tmpfs");
        Directory.CreateDirectory(mount);
        await ExternalTool.RunCheckedAsync("mount", ["-t", "tmpfs", "-o", "size=" + size, "tmpfs", mount], s_toolTimeout);
        return mount;
    }

    private static async Task<string> AttachLoopAsync(string backing, bool readOnly)
    {
        string[] arguments = readOnly ? ["--find", "--show", "--read-only", backing] : ["--find", "--show", backing];
        string loop = (await ExternalTool.RunCheckedAsync("losetup", arguments, s_toolTimeout)).StandardOutput.Trim();
        Assert.StartsWith("/dev/loop", loop, StringComparison.Ordinal);
        return loop;
    }

    private static async Task CleanUpAsync(string directory, string tmpfs, string? loop)
    {
        if (loop is not null)
        {
            await ExternalTool.RunAsync("losetup", ["--detach", loop], s_toolTimeout);
        }

        // A detached loop device lets go of its backing file a moment later: retry the unmount for a while.
        for (int attempt = 0; ; attempt++)
        {
            ToolResult unmounted = await ExternalTool.RunAsync("umount", [tmpfs], s_toolTimeout);
            if (unmounted.ExitCode == 0 || attempt == 50)
            {
                break;
            }

            await Task.Delay(200, TestContext.Current.CancellationToken);
        }

        Directory.Delete(directory, recursive: true);
    }

    /// <summary>The bytes a process read with read-family system calls (<c>rchar</c> of <c>/proc/PID/io</c>).</summary>
    private static long ReadCharacters(int pid)
    {
        foreach (string line in File.ReadLines($"/proc/{pid}/io"))
        {
            if (line.StartsWith("rchar:", StringComparison.Ordinal))
            {
                return long.Parse(line.AsSpan(6).Trim(), CultureInfo.InvariantCulture);
            }
        }

        Assert.Fail($"/proc/{pid}/io has no rchar line");
        return 0;
    }

    private static async Task WaitForAsync(Func<bool> condition, TimeSpan timeout, string what)
    {
        DateTime end = DateTime.UtcNow + timeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < end, "timed out waiting for " + what);
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
    }
}
