using System.Buffers.Binary;
using System.Globalization;

namespace Blkmq.Integration.Tests.Infrastructure;

/// <summary>
/// ext4 on a loop device over an image file that some front end serves from <see cref="Disk"/>: losetup, mkfs.ext4,
/// mount, a random file written, unmount, the superblock checked on the disk itself, e2fsck -fn clean, mount again, the
/// file's sha256 the same, unmount, detach. Whatever a failed step leaves behind is undone.
/// </summary>
internal static class Ext4OnLoop
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromMinutes(2);

    public static void RequireTools() => ExternalTool.Require("losetup", "mkfs.ext4", "e2fsck", "mount", "umount");

    public static async Task RunAsync(string image, Disk disk, int sectorSize, string workDirectory)
    {
        string mountPoint = Path.Combine(workDirectory, "ext4-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(mountPoint);
        string? loop = null;
        bool mounted = false;
        try
        {
            loop = (await ExternalTool.RunCheckedAsync("losetup", ["--find", "--show", "--sector-size", sectorSize.ToString(CultureInfo.InvariantCulture), image], s_timeout)).StandardOutput.Trim();
            Assert.StartsWith("/dev/loop", loop, StringComparison.Ordinal);

            await ExternalTool.RunCheckedAsync("mkfs.ext4", ["-q", "-F", loop], s_timeout);
            await ExternalTool.RunCheckedAsync("mount", [loop, mountPoint], s_timeout);
            mounted = true;
            string file = Path.Combine(mountPoint, "random.bin");
            await TestFiles.WriteRandomAsync(file, 24L << 20, seed: 11);
            string written = await TestFiles.Sha256Async(file);
            await ExternalTool.RunCheckedAsync("umount", [mountPoint], s_timeout);
            mounted = false;

            // What the file system wrote reached the disk: the ext4 superblock's magic at 1024 + 56.
            byte[] superblock = new byte[4096];
            await disk.OpenDevice().ReadAsync(0, superblock);
            Assert.Equal(0xEF53, BinaryPrimitives.ReadUInt16LittleEndian(superblock.AsSpan(1024 + 56)));

            await ExternalTool.RunCheckedAsync("e2fsck", ["-f", "-n", loop], s_timeout);
            await ExternalTool.RunCheckedAsync("mount", [loop, mountPoint], s_timeout);
            mounted = true;
            Assert.Equal(written, await TestFiles.Sha256Async(file));
            await ExternalTool.RunCheckedAsync("umount", [mountPoint], s_timeout);
            mounted = false;
            await ExternalTool.RunCheckedAsync("losetup", ["--detach", loop], s_timeout);
            loop = null;
        }
        finally
        {
            // Innermost first; the steps above already checked their results.
            if (mounted)
            {
                await ExternalTool.RunAsync("umount", ["-l", mountPoint], s_timeout);
            }

            if (loop is not null)
            {
                await ExternalTool.RunAsync("losetup", ["--detach", loop], s_timeout);
            }
        }
    }
}
