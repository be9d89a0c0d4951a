using Blkmq.Drivers.Null;
using Blkmq.Fuse;
using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests;

/// <summary>
/// FUSE over io_uring against the real kernel: the transport is chosen as <see cref="FuseIoUringMode"/> says, the
/// rings serve the IO (their request count moves), IO completed later by the disk (a timer null disk) reaches its reply
/// through the ring's eventfd, and what the file reads and writes is what the disk holds.
/// </summary>
[Collection("heavy")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class FuseIoUringTests
{
    [Theory]
    [InlineData("irqmode=0")] // every IO completes inline: committed at once
    [InlineData("irqmode=2,completion_nsec=20000")] // every IO completes on a timer thread: handed back through the eventfd
    public async Task On_RingsServeReadsAndWrites_AndTheDiskHoldsTheData(string completion)
    {
        using IDisposable parameter = FuseUringParameter.Enable();
        await using NullBlock nullb = NullBlock.Create("memory_backed=1,size=16M,bs=4096," + completion);
        string directory = Directory.CreateTempSubdirectory("blkmq-fuse-uring-").FullName;
        try
        {
            await using (FuseExport export = FuseExport.Mount(new FuseExportOptions
            {
                MountPoint = directory,
                Files = [new FuseFile { Name = "disk", Disk = nullb.Disk }],
                IoUring = FuseIoUringMode.On,
                DirectIO = true,
            }))
            {
                Assert.True(export.UsesIoUring);
                byte[] pattern = new byte[1 << 20];
                new Random(16).NextBytes(pattern);
                using (Microsoft.Win32.SafeHandles.SafeFileHandle file = File.OpenHandle(export.FilePaths[0], FileMode.Open, FileAccess.ReadWrite))
                {
                    // Whole 1 MiB writes, unaligned small ones, and reads of both, from several threads at once.
                    await Parallel.ForAsync(0, 8, TestContext.Current.CancellationToken, async (i, token) =>
                    {
                        await RandomAccess.WriteAsync(file, pattern, (long)i << 20, token);
                        await RandomAccess.WriteAsync(file, pattern.AsMemory(i * 100, 3000), (8L << 20) + (i * 100_000) + 7, token);
                    });
                    await Parallel.ForAsync(0, 8, TestContext.Current.CancellationToken, async (i, token) =>
                    {
                        byte[] read = new byte[1 << 20];
                        Assert.Equal(read.Length, await RandomAccess.ReadAsync(file, read, (long)i << 20, token));
                        Assert.True(read.AsSpan().SequenceEqual(pattern));
                        Assert.Equal(3000, await RandomAccess.ReadAsync(file, read.AsMemory(0, 3000), (8L << 20) + (i * 100_000) + 7, token));
                        Assert.True(read.AsSpan(0, 3000).SequenceEqual(pattern.AsSpan(i * 100, 3000)));
                    });
                    RandomAccess.FlushToDisk(file);
                }

                Assert.True(export.RingRequests >= 32, $"the rings served {export.RingRequests} requests");
                byte[] onDisk = new byte[1 << 20];
                await nullb.Disk.OpenDevice().ReadAsync(5L << 20, onDisk);
                Assert.Equal(pattern, onDisk);
            }

            Assert.Empty(Directory.GetFileSystemEntries(directory));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Auto_WithTheKernelParameterOff_ServesThroughDevFuse_AndOnIsRefusedLeavingNothingMounted()
    {
        using IDisposable parameter = FuseUringParameter.Disable();
        await using NullBlock nullb = NullBlock.Create("memory_backed=1,size=1M,irqmode=0");
        string directory = Directory.CreateTempSubdirectory("blkmq-fuse-uring-").FullName;
        try
        {
            await using (FuseExport export = FuseExport.Mount(new FuseExportOptions
            {
                MountPoint = directory,
                Files = [new FuseFile { Name = "disk", Disk = nullb.Disk }],
            }))
            {
                Assert.False(export.UsesIoUring);
                await File.WriteAllBytesAsync(export.FilePaths[0], new byte[8192], TestContext.Current.CancellationToken);
                Assert.Equal(0, export.RingRequests);
            }

            IOException refused = Assert.Throws<IOException>(() => FuseExport.Mount(new FuseExportOptions
            {
                MountPoint = directory,
                Files = [new FuseFile { Name = "disk", Disk = nullb.Disk }],
                IoUring = FuseIoUringMode.On,
            }));
            Assert.Contains("enable_uring", refused.Message, StringComparison.Ordinal);
            Assert.DoesNotContain('\n', refused.Message);
            Assert.Empty(Directory.GetFileSystemEntries(directory));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Off_WithTheKernelParameterOn_ServesThroughDevFuse()
    {
        using IDisposable parameter = FuseUringParameter.Enable();
        await using NullBlock nullb = NullBlock.Create("memory_backed=1,size=1M,irqmode=0");
        string directory = Directory.CreateTempSubdirectory("blkmq-fuse-uring-").FullName;
        try
        {
            await using FuseExport export = FuseExport.Mount(new FuseExportOptions
            {
                MountPoint = directory,
                Files = [new FuseFile { Name = "disk", Disk = nullb.Disk }],
                IoUring = FuseIoUringMode.Off,
            });
            Assert.False(export.UsesIoUring);
            await File.WriteAllBytesAsync(export.FilePaths[0], new byte[8192], TestContext.Current.CancellationToken);
            Assert.Equal(0, export.RingRequests);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
