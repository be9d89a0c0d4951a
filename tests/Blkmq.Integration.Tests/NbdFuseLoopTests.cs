using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests;

/// <summary>
/// The whole stack of real parts over the NBD server: libnbd's <c>nbdfuse</c> shows the export as a file, the
/// kernel's loop driver turns the file into <c>/dev/loopN</c>, and ext4 lives on it (mkfs, mount, a file written and
/// read back after a remount, <c>e2fsck -fn</c> clean).
/// </summary>
[Collection("heavy")]
public sealed class NbdFuseLoopTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromMinutes(2);

    /// <summary>
    /// With 4 KiB blocks the loop device must use 4 KiB sectors too: nbdfuse passes the kernel's requests on as they
    /// are, and the server refuses requests that are not aligned to the minimum block size it advertised.
    /// </summary>
    [Theory]
    [InlineData(512)]
    [InlineData(4096)]
    public async Task Ext4OnLoopOverNbdfuse_SurvivesRemountAndFsck(int blockSize)
    {
        ExternalTool.Require("nbdfuse", "fusermount3", "losetup", "mkfs.ext4", "e2fsck", "mount", "umount");
        RequireRootWithFuse();
        await using NbdTestServer server = await NbdTestServer.StartAsync($"memory_backed=1,discard=1,size=256M,bs={blockSize},irqmode=1");
        string fuseDirectory = Path.Combine(server.Directory, "fuse");
        string mountPoint = Path.Combine(server.Directory, "ext4");
        Directory.CreateDirectory(fuseDirectory);
        Directory.CreateDirectory(mountPoint);
        string image = Path.Combine(fuseDirectory, "disk");

        using Process nbdfuse = StartNbdfuse(image, server.Uri());
        string? loop = null;
        bool mounted = false;
        try
        {
            await WaitForFileAsync(image, nbdfuse);
            Assert.Equal(256L << 20, new FileInfo(image).Length);
            loop = (await ExternalTool.RunCheckedAsync("losetup", ["--find", "--show", "--sector-size", blockSize.ToString(CultureInfo.InvariantCulture), image], s_timeout)).StandardOutput.Trim();
            Assert.StartsWith("/dev/loop", loop, StringComparison.Ordinal);

            await ExternalTool.RunCheckedAsync("mkfs.ext4", ["-q", "-F", loop], s_timeout);
            await ExternalTool.RunCheckedAsync("mount", [loop, mountPoint], s_timeout);
            mounted = true;
            string file = Path.Combine(mountPoint, "random.bin");
            await TestFiles.WriteRandomAsync(file, 24L << 20, seed: 11);
            string written = await TestFiles.Sha256Async(file);
            await ExternalTool.RunCheckedAsync("umount", [mountPoint], s_timeout);
            mounted = false;

            // What the file system wrote reached our disk: the ext4 superblock's magic at 1024 + 56.
            byte[] superblock = new byte[4096];
            await server.Disk.OpenDevice().ReadAsync(0, superblock);
            Assert.Equal(0xEF53, BinaryPrimitives.ReadUInt16LittleEndian(superblock.AsSpan(1024 + 56)));

            await ExternalTool.RunCheckedAsync("e2fsck", ["-f", "-n", loop], s_timeout);
            await ExternalTool.RunCheckedAsync("mount", [loop, mountPoint], s_timeout);
            mounted = true;
            Assert.Equal(written, await TestFiles.Sha256Async(file));
            await ExternalTool.RunCheckedAsync("umount", [mountPoint], s_timeout);
            mounted = false;
            await ExternalTool.RunCheckedAsync("losetup", ["--detach", loop], s_timeout);
            loop = null;
            await ExternalTool.RunCheckedAsync("fusermount3", ["-u", fuseDirectory], s_timeout);
            Assert.True(nbdfuse.WaitForExit(TimeSpan.FromSeconds(30)), "nbdfuse did not exit after its unmount");
            Assert.Equal(0, nbdfuse.ExitCode);
        }
        finally
        {
            // Undo whatever a failed step left behind, innermost first; the steps above already checked their results.
            if (mounted)
            {
                await ExternalTool.RunAsync("umount", ["-l", mountPoint], s_timeout);
            }

            if (loop is not null)
            {
                await ExternalTool.RunAsync("losetup", ["--detach", loop], s_timeout);
            }

            if (!nbdfuse.HasExited)
            {
                await ExternalTool.RunAsync("fusermount3", ["-u", "-z", fuseDirectory], s_timeout);
                if (!nbdfuse.WaitForExit(TimeSpan.FromSeconds(10)))
                {
                    nbdfuse.Kill(entireProcessTree: true); // by its own pid
                }
            }
        }

        await server.WaitForNoConnectionsAsync();
    }

    private static void RequireRootWithFuse()
    {
        string? missing = Environment.UserName != "root" ? "root (for losetup and mount)"
            : !File.Exists("/dev/fuse") ? "/dev/fuse"
            : !File.Exists("/dev/loop-control") ? "/dev/loop-control"
            : null;
        if (missing is null)
        {
            return;
        }

        string message = $"The nbdfuse + loop test needs {missing}.";
        if (ExternalTool.IsCi)
        {
            Assert.Fail(message);
        }

        Assert.Skip(message);
    }

    private static Process StartNbdfuse(string image, string uri)
    {
        var info = new ProcessStartInfo(ExternalTool.Find("nbdfuse")!)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(image);
        info.ArgumentList.Add(uri);
        return Process.Start(info)!;
    }

    private static async Task WaitForFileAsync(string path, Process nbdfuse)
    {
        var clock = Stopwatch.StartNew();
        while (!File.Exists(path))
        {
            if (nbdfuse.HasExited)
            {
                Assert.Fail($"nbdfuse exited {nbdfuse.ExitCode}: {await nbdfuse.StandardError.ReadToEndAsync()}");
            }

            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"{path} did not appear within 30 s");
            await Task.Delay(50);
        }
    }
}
