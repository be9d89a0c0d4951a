using System.Diagnostics;
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
        ExternalTool.Require("nbdfuse", "fusermount3");
        Ext4OnLoop.RequireTools();
        FuseRequirements.RequireRootWithFuse();
        await using NbdTestServer server = await NbdTestServer.StartAsync($"memory_backed=1,discard=1,size=256M,bs={blockSize},irqmode=1");
        string fuseDirectory = Path.Combine(server.Directory, "fuse");
        Directory.CreateDirectory(fuseDirectory);
        string image = Path.Combine(fuseDirectory, "disk");

        using Process nbdfuse = StartNbdfuse(image, server.Uri());
        try
        {
            await WaitForFileAsync(image, nbdfuse);
            Assert.Equal(256L << 20, new FileInfo(image).Length);
            await Ext4OnLoop.RunAsync(image, server.Disk, blockSize, server.Directory);
            await ExternalTool.RunCheckedAsync("fusermount3", ["-u", fuseDirectory], s_timeout);
            Assert.True(nbdfuse.WaitForExit(TimeSpan.FromSeconds(30)), "nbdfuse did not exit after its unmount");
            Assert.Equal(0, nbdfuse.ExitCode);
        }
        finally
        {
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
