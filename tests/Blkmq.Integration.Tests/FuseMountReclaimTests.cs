using System.Globalization;
using Blkmq.Drivers.Null;
using Blkmq.Fuse;
using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests;

/// <summary>
/// What <see cref="FuseExport.Mount"/> finds at its mount point: a dead Blkmq mount (the one a killed server leaves) is
/// detached and mounted afresh, a live one is refused naming its server, a dead mount of another FUSE server is left to
/// its owner with a message; the unmount leaves nothing in the mount table.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class FuseMountReclaimTests
{
    [Theory]
    [InlineData("blkmq:2147483646")] // a pid no process has
    [InlineData("blkmq")] // no pid at all
    public async Task DeadBlkmqMount_IsDetached_AndTheExportMountsAfresh(string source)
    {
        FuseRequirements.RequireRootWithFuse();
        string mountPoint = Directory.CreateTempSubdirectory("blkmq-reclaim-").FullName;
        try
        {
            DeadFuseMount.Create(mountPoint, "fuse.blkmq", source);
            DeadFuseMount.Create(mountPoint, "fuse.blkmq", source); // stacked twice: both go
            Assert.False(Directory.Exists(mountPoint)); // ENOTCONN: the directory looks like none

            await using NullBlock nullb = NullBlock.Create("memory_backed=1,size=1M,irqmode=0");
            FuseExport export = FuseExport.Mount(new FuseExportOptions
            {
                MountPoint = mountPoint,
                Files = [new FuseFile { Name = "disk", Disk = nullb.Disk }],
            });
            await using (export)
            {
                Assert.Equal([OwnMount()], MountTable.At(mountPoint));
                await File.WriteAllBytesAsync(export.FilePaths[0], new byte[4096], TestContext.Current.CancellationToken);
            }

            Assert.Empty(MountTable.At(mountPoint));
            Assert.Empty(Directory.GetFileSystemEntries(mountPoint));
        }
        finally
        {
            DeadFuseMount.DetachAll(mountPoint);
            Directory.Delete(mountPoint, recursive: true);
        }
    }

    [Fact]
    public async Task MountPointReachedThroughASymbolicLink_IsFoundInTheMountTable()
    {
        FuseRequirements.RequireRootWithFuse();
        string directory = Directory.CreateTempSubdirectory("blkmq-reclaim-").FullName;
        string mountPoint = Path.Combine(directory, "real");
        string link = Path.Combine(directory, "link");
        Directory.CreateDirectory(mountPoint);
        File.CreateSymbolicLink(link, mountPoint);
        try
        {
            // As /var/run/x is /run/x: the table lists the mount at the link's target.
            DeadFuseMount.Create(mountPoint, "fuse.blkmq", "blkmq:2147483646");
            await using NullBlock nullb = NullBlock.Create("memory_backed=1,size=1M,irqmode=0");
            var options = new FuseExportOptions
            {
                MountPoint = link,
                Files = [new FuseFile { Name = "disk", Disk = nullb.Disk }],
            };
            await using (FuseExport export = FuseExport.Mount(options))
            {
                Assert.Equal([OwnMount()], MountTable.At(mountPoint));
                IOException refused = Assert.Throws<IOException>(() => FuseExport.Mount(options));
                Assert.Contains("already served by Blkmq", refused.Message, StringComparison.Ordinal);
                Assert.Equal(1L << 20, new FileInfo(Path.Combine(link, "disk")).Length);
            }

            Assert.Empty(MountTable.At(mountPoint));
        }
        finally
        {
            DeadFuseMount.DetachAll(mountPoint);
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task LiveBlkmqMount_IsRefused_NamingItsServer_AndKeepsServing()
    {
        FuseRequirements.RequireRootWithFuse();
        string mountPoint = Directory.CreateTempSubdirectory("blkmq-reclaim-").FullName;
        try
        {
            await using NullBlock nullb = NullBlock.Create("memory_backed=1,size=1M,irqmode=0");
            var options = new FuseExportOptions
            {
                MountPoint = mountPoint,
                Files = [new FuseFile { Name = "disk", Disk = nullb.Disk }],
            };
            await using (FuseExport export = FuseExport.Mount(options))
            {
                IOException refused = Assert.Throws<IOException>(() => FuseExport.Mount(options));
                Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"already served by Blkmq (pid {Environment.ProcessId})"), refused.Message, StringComparison.Ordinal);
                Assert.Equal([OwnMount()], MountTable.At(mountPoint));
                Assert.Equal(1L << 20, new FileInfo(export.FilePaths[0]).Length);
            }

            Assert.Empty(MountTable.At(mountPoint));
        }
        finally
        {
            DeadFuseMount.DetachAll(mountPoint);
            Directory.Delete(mountPoint, recursive: true);
        }
    }

    [Fact]
    public async Task DeadMountOfAnotherServer_IsLeftAlone_WithAMessageThatSaysSo()
    {
        FuseRequirements.RequireRootWithFuse();
        string mountPoint = Directory.CreateTempSubdirectory("blkmq-reclaim-").FullName;
        try
        {
            DeadFuseMount.Create(mountPoint, "fuse.other", "other");
            await using NullBlock nullb = NullBlock.Create("memory_backed=1,size=1M,irqmode=0");
            IOException refused = Assert.Throws<IOException>(() => FuseExport.Mount(new FuseExportOptions
            {
                MountPoint = mountPoint,
                Files = [new FuseFile { Name = "disk", Disk = nullb.Disk }],
            }));
            Assert.Contains("FUSE mount of another server (fuse.other, source other) that is gone", refused.Message, StringComparison.Ordinal);
            Assert.Equal(["fuse.other other"], MountTable.At(mountPoint));
        }
        finally
        {
            DeadFuseMount.DetachAll(mountPoint);
            Directory.Delete(mountPoint, recursive: true);
        }
    }

    private static string OwnMount() => string.Create(CultureInfo.InvariantCulture, $"fuse.blkmq blkmq:{Environment.ProcessId}");
}
