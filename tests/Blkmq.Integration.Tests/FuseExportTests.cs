using Blkmq.Drivers.Null;
using Blkmq.Fuse;
using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests;

/// <summary>
/// The FUSE export against the real kernel: the disk as a file that ordinary file IO, <c>fallocate</c>,
/// <c>losetup</c> and ext4 use, and an unmount that leaves nothing behind; on both transports (<c>ioUring</c>:
/// FUSE over io_uring, the kernel parameter turned on for the test, or <c>/dev/fuse</c>).
/// </summary>
[Collection("heavy")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class FuseExportTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromMinutes(2);

    [Theory]
    [InlineData(512, false)]
    [InlineData(4096, false)]
    [InlineData(4096, true)]
    public async Task Ext4OnLoopOverTheExport_SurvivesRemountAndFsck(int blockSize, bool ioUring)
    {
        Ext4OnLoop.RequireTools();
        FuseRequirements.RequireRootWithFuse();
        await using var rig = await FuseRig.MountAsync($"memory_backed=1,discard=1,size=256M,bs={blockSize},irqmode=1", ioUring: ioUring);
        Assert.Equal(256L << 20, new FileInfo(rig.Path).Length);

        // Unlike nbdfuse over NBD, the export takes any alignment, so the loop device may use 512-byte sectors.
        await Ext4OnLoop.RunAsync(rig.Path, rig.Disk, 512, rig.Directory);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task UnalignedFileIO_ReachesTheDisk_AndTheDiskIsSeenThroughTheFile(bool ioUring)
    {
        FuseRequirements.RequireRootWithFuse();
        await using var rig = await FuseRig.MountAsync("memory_backed=1,size=16M,bs=4096,irqmode=0", directIO: true, ioUring: ioUring);
        byte[] pattern = new byte[10_000];
        new Random(5).NextBytes(pattern);

        // 10,000 bytes at 4,097: a partial first and last block, read-modified-written by the export.
        await using (var file = new FileStream(rig.Path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, 1, FileOptions.None))
        {
            file.Position = 4097;
            await file.WriteAsync(pattern);
            await file.FlushAsync();
        }

        byte[] onDisk = new byte[3 * 4096 + 4096];
        await rig.Disk.OpenDevice().ReadAsync(4096, onDisk);
        Assert.Equal(0, onDisk[0]);
        Assert.True(onDisk.AsSpan(1, pattern.Length).SequenceEqual(pattern));
        Assert.True(onDisk.AsSpan(1 + pattern.Length).IndexOfAnyExcept((byte)0) < 0);

        // And the other way: what the disk holds is what the file reads, at any offset.
        byte[] block = Enumerable.Range(0, 4096).Select(static i => (byte)(i * 7)).ToArray();
        await rig.Disk.OpenDevice().WriteAsync(1 << 20, block);
        byte[] read = new byte[100];
        await using (FileStream file = File.OpenRead(rig.Path))
        {
            file.Position = (1 << 20) + 33;
            await file.ReadExactlyAsync(read);
        }

        Assert.True(read.AsSpan().SequenceEqual(block.AsSpan(33, 100)));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task WritesAndPunchedHoles_MoveMtimeAndCtime_ReadsDoNot(bool ioUring)
    {
        // What make, rsync and backup tools look at: a file whose data changed has a later mtime.
        FuseRequirements.RequireRootWithFuse();
        await using var rig = await FuseRig.MountAsync("memory_backed=1,discard=1,size=16M,bs=4096,irqmode=0", ioUring: ioUring);
        (DateTime Mtime, DateTime Ctime) Times() => (File.GetLastWriteTimeUtc(rig.Path), StatCtime(rig.Path));
        (DateTime Mtime, DateTime Ctime) mounted = Times();

        await Task.Delay(50, TestContext.Current.CancellationToken);
        await using (var file = new FileStream(rig.Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1, FileOptions.None))
        {
            await file.ReadExactlyAsync(new byte[4096], TestContext.Current.CancellationToken);
        }

        Assert.Equal(mounted, Times());

        DateTime before = DateTime.UtcNow;
        await using (var file = new FileStream(rig.Path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, 1, FileOptions.None))
        {
            file.Position = 8192;
            await file.WriteAsync(new byte[] { 1, 2, 3 }, TestContext.Current.CancellationToken);
        }

        (DateTime Mtime, DateTime Ctime) written = Times();
        Assert.True(written.Mtime > mounted.Mtime && written.Mtime >= before.AddMilliseconds(-5), $"mtime {written.Mtime:O} after a write at {before:O} (mounted {mounted.Mtime:O})");
        Assert.True(written.Ctime >= written.Mtime.AddMilliseconds(-1), $"ctime {written.Ctime:O}, mtime {written.Mtime:O}");

        await Task.Delay(50, TestContext.Current.CancellationToken);
        await ExternalTool.RunCheckedAsync("fallocate", ["--punch-hole", "--offset", "0", "--length", "4096", rig.Path], s_timeout);
        Assert.True(Times().Mtime > written.Mtime, "a punched hole did not move mtime");
    }

    private static DateTime StatCtime(string path)
    {
        // .NET has no ctime; stat(1) prints it to the nanosecond (%.9Z: seconds.nanoseconds).
        using var stat = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%.9Z", path]) { RedirectStandardOutput = true, UseShellExecute = false })!;
        string[] parts = stat.StandardOutput.ReadToEnd().Trim().Split('.');
        stat.WaitForExit();
        return DateTime.UnixEpoch.AddSeconds(long.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture))
            .AddTicks(long.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture) / 100);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task WritePastTheEnd_FailsWithNoSpace_TruncationZeroesTheRest_AndGrowingFails(bool ioUring)
    {
        ExternalTool.Require("truncate");
        FuseRequirements.RequireRootWithFuse();
        await using var rig = await FuseRig.MountAsync("memory_backed=1,discard=1,size=1M,irqmode=0", ioUring: ioUring);
        await using (var file = new FileStream(rig.Path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0))
        {
            file.Position = 1 << 20;
            IOException full = await Assert.ThrowsAsync<IOException>(async () => await file.WriteAsync(new byte[512]));
            Assert.Contains("space", full.Message, StringComparison.OrdinalIgnoreCase);
        }

        // Read through one handle first, so the kernel caches the pages that truncating that handle then zeroes (an
        // open drops the cache, so only the same handle could see stale pages).
        byte[] nines = Enumerable.Repeat((byte)9, 1 << 20).ToArray();
        await rig.Disk.OpenDevice().WriteAsync(0, nines);
        byte[] read = new byte[1 << 20];
        using (Microsoft.Win32.SafeHandles.SafeFileHandle handle = File.OpenHandle(rig.Path, FileMode.Open, FileAccess.ReadWrite))
        {
            Assert.Equal(read.Length, await RandomAccess.ReadAsync(handle, read, 0, TestContext.Current.CancellationToken));
            Assert.Equal(nines, read);

            // Truncated to 5000 bytes: the data a file truncated and grown back would hold, and the disk's size.
            RandomAccess.SetLength(handle, 5000);
            Array.Clear(read);
            Assert.Equal(read.Length, await RandomAccess.ReadAsync(handle, read, 0, TestContext.Current.CancellationToken));
            Assert.Equal(1L << 20, RandomAccess.GetLength(handle));
        }

        Assert.True(read.AsSpan(0, 5000).IndexOfAnyExcept((byte)9) < 0);
        Assert.True(read.AsSpan(5000).IndexOfAnyExcept((byte)0) < 0, "the kernel served stale cached pages past the truncation");
        byte[] onDisk = new byte[1 << 20];
        await rig.Disk.OpenDevice().ReadAsync(0, onDisk);
        Assert.Equal(read, onDisk);
        await ExternalTool.RunCheckedAsync("truncate", ["-s", "1M", rig.Path], s_timeout);

        // .NET's FileMode.Create truncates to 0 first: the disk is then the 4 KiB written and zeroes.
        await File.WriteAllBytesAsync(rig.Path, Enumerable.Repeat((byte)7, 4096).ToArray());
        await rig.Disk.OpenDevice().ReadAsync(0, onDisk);
        Assert.True(onDisk.AsSpan(0, 4096).IndexOfAnyExcept((byte)7) < 0);
        Assert.True(onDisk.AsSpan(4096).IndexOfAnyExcept((byte)0) < 0);

        ToolResult grow = await ExternalTool.RunAsync("truncate", ["-s", "2M", rig.Path], s_timeout);
        Assert.NotEqual(0, grow.ExitCode);
        Assert.Contains("too large", grow.StandardError, StringComparison.OrdinalIgnoreCase);

        // Nothing else can be made in the mount.
        Assert.ThrowsAny<UnauthorizedAccessException>(() => File.WriteAllText(Path.Combine(rig.Directory, "mnt", "other"), "x"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task QemuImgConvert_IntoTheFile_ThenCompareIsIdentical(bool ioUring)
    {
        ExternalTool.Require("qemu-img", "qemu-io");
        FuseRequirements.RequireRootWithFuse();
        await using var rig = await FuseRig.MountAsync("memory_backed=1,discard=1,size=64M,irqmode=1", ioUring: ioUring);

        // Dirty the disk first: convert truncates the target and skips what the image leaves unallocated.
        await rig.Disk.OpenDevice().WriteAsync(20L << 20, Enumerable.Repeat((byte)0xff, 1 << 20).ToArray());
        string image = Path.Combine(rig.Directory, "source.qcow2");
        await ExternalTool.RunCheckedAsync("qemu-img", ["create", "-q", "-f", "qcow2", image, "64M"], s_timeout);
        await ExternalTool.RunCheckedAsync("qemu-io", ["-f", "qcow2", "-c", "write -P 0x5a 0 1M", "-c", "write -P 0xa5 10M 3M", image], s_timeout);
        await ExternalTool.RunCheckedAsync("qemu-img", ["convert", "-f", "qcow2", "-O", "raw", image, rig.Path], s_timeout);
        ToolResult compare = await ExternalTool.RunCheckedAsync("qemu-img", ["compare", "-f", "qcow2", "-F", "raw", image, rig.Path], s_timeout);
        Assert.Contains("Images are identical", compare.StandardOutput, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Fallocate_PunchesAndZeroesRanges_OfTheDisk(bool ioUring)
    {
        ExternalTool.Require("fallocate");
        FuseRequirements.RequireRootWithFuse();
        await using var rig = await FuseRig.MountAsync("memory_backed=1,discard=1,size=4M,irqmode=0", ioUring: ioUring);
        byte[] ones = Enumerable.Repeat((byte)1, 1 << 20).ToArray();
        await rig.Disk.OpenDevice().WriteAsync(0, ones);

        await ExternalTool.RunCheckedAsync("fallocate", ["--punch-hole", "--offset", "4096", "--length", "65536", rig.Path], s_timeout);
        await ExternalTool.RunCheckedAsync("fallocate", ["--zero-range", "--offset", "100000", "--length", "1000", "--keep-size", rig.Path], s_timeout);

        byte[] read = new byte[1 << 20];
        await rig.Disk.OpenDevice().ReadAsync(0, read);
        Assert.True(read.AsSpan(0, 4096).IndexOfAnyExcept((byte)1) < 0);
        Assert.True(read.AsSpan(4096, 65536).IndexOfAnyExcept((byte)0) < 0);
        Assert.True(read.AsSpan(4096 + 65536, 100000 - 4096 - 65536).IndexOfAnyExcept((byte)1) < 0);
        Assert.True(read.AsSpan(100000, 1000).IndexOfAnyExcept((byte)0) < 0);
        Assert.True(read.AsSpan(101000).IndexOfAnyExcept((byte)1) < 0);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Fallocate_PastTheEnd_ServesTheRangeToTheEndWhenTheSizeIsKept_AndRefusesToGrow(bool ioUring)
    {
        ExternalTool.Require("fallocate");
        FuseRequirements.RequireRootWithFuse();
        await using var rig = await FuseRig.MountAsync("memory_backed=1,discard=1,size=4M,irqmode=0", ioUring: ioUring);
        byte[] ones = Enumerable.Repeat((byte)1, 4 << 20).ToArray();
        byte[] read = new byte[4 << 20];

        // Zeroing a range that crosses the end would grow the file: EFBIG, and nothing is zeroed.
        await rig.Disk.OpenDevice().WriteAsync(0, ones);
        ToolResult grow = await ExternalTool.RunAsync("fallocate", ["--zero-range", "--offset", "3M", "--length", "2M", rig.Path], s_timeout);
        Assert.NotEqual(0, grow.ExitCode);
        Assert.Contains("File too large", grow.StandardError, StringComparison.Ordinal);
        await rig.Disk.OpenDevice().ReadAsync(0, read);
        Assert.True(read.AsSpan().IndexOfAnyExcept((byte)1) < 0);

        // With the size kept, a length longer than the file reaches its end (fallocate -p -l 1T punches the rest).
        await ExternalTool.RunCheckedAsync("fallocate", ["--punch-hole", "--offset", "3M", "--length", "1T", rig.Path], s_timeout);
        await rig.Disk.OpenDevice().ReadAsync(0, read);
        Assert.True(read.AsSpan(0, 3 << 20).IndexOfAnyExcept((byte)1) < 0);
        Assert.True(read.AsSpan(3 << 20).IndexOfAnyExcept((byte)0) < 0);

        await rig.Disk.OpenDevice().WriteAsync(0, ones);
        await ExternalTool.RunCheckedAsync("fallocate", ["--zero-range", "--keep-size", "--offset", "1M", "--length", "8M", rig.Path], s_timeout);
        await rig.Disk.OpenDevice().ReadAsync(0, read);
        Assert.True(read.AsSpan(0, 1 << 20).IndexOfAnyExcept((byte)1) < 0);
        Assert.True(read.AsSpan(1 << 20).IndexOfAnyExcept((byte)0) < 0);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task SeekDataAndHole_FollowTheDisksAllocation_AndCpSparseKeepsTheHoles(bool ioUring)
    {
        ExternalTool.Require("python3", "cp");
        FuseRequirements.RequireRootWithFuse();
        await using var rig = await FuseRig.MountAsync("memory_backed=1,discard=1,size=16M,irqmode=0", ioUring: ioUring);
        await rig.Disk.OpenDevice().WriteAsync(4 << 20, Enumerable.Repeat((byte)7, 1 << 20).ToArray());
        await rig.Disk.OpenDevice().WriteAsync(12 << 20, Enumerable.Repeat((byte)9, 64 << 10).ToArray());

        // SEEK_DATA and SEEK_HOLE from several offsets; ENXIO for data past the last extent and at the end.
        const string Script = """
            import os, sys
            fd = os.open(sys.argv[1], os.O_RDONLY)
            def seek(offset, whence):
                try:
                    return str(os.lseek(fd, offset, whence))
                except OSError as e:
                    return "errno" + str(e.errno)
            print(" ".join([seek(0, os.SEEK_DATA), seek(0, os.SEEK_HOLE), seek(5 << 20, os.SEEK_HOLE),
                            seek(5 << 20, os.SEEK_DATA), seek((12 << 20) + 4096, os.SEEK_DATA),
                            seek((12 << 20) + (64 << 10), os.SEEK_DATA), seek(16 << 20, os.SEEK_HOLE)]))
            """;
        ToolResult seeks = await ExternalTool.RunCheckedAsync("python3", ["-c", Script, rig.Path], s_timeout);
        Assert.Equal($"{4 << 20} 0 {5 << 20} {12 << 20} {(12 << 20) + 4096} errno6 errno6", seeks.StandardOutput.Trim());

        // A sparse copy of the file allocates only the written 1 MiB + 64 KiB, and reads back the same bytes.
        string copy = Path.Combine(Path.GetTempPath(), $"blkmq-fuse-sparse-{Guid.NewGuid():N}.img");
        try
        {
            await ExternalTool.RunCheckedAsync("cp", ["--sparse=always", rig.Path, copy], s_timeout);
            ToolResult blocks = await ExternalTool.RunCheckedAsync("stat", ["-c", "%b %B %s", copy], s_timeout);
            long[] stat = blocks.StandardOutput.Trim().Split(' ').Select(long.Parse).ToArray();
            Assert.Equal(16L << 20, stat[2]);
            Assert.InRange(stat[0] * stat[1], (1 << 20) + (64 << 10), 2 << 20);
            byte[] expected = new byte[16 << 20];
            await rig.Disk.OpenDevice().ReadAsync(0, expected);
            byte[] copied = await File.ReadAllBytesAsync(copy);
            Assert.True(expected.AsSpan().SequenceEqual(copied));
        }
        finally
        {
            File.Delete(copy);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ReadOnlyFile_RefusesWrites_AndSeveralDisksAreSeveralFiles(bool ioUring)
    {
        FuseRequirements.RequireRootWithFuse();
        using IDisposable? parameter = ioUring ? FuseUringParameter.Enable() : null;
        await using NullBlock a = NullBlock.Create("memory_backed=1,size=1M,irqmode=0");
        await using NullBlock b = NullBlock.Create("memory_backed=1,size=2M,irqmode=0");
        string directory = Directory.CreateTempSubdirectory("blkmq-fuse-").FullName;
        try
        {
            await using (FuseExport export = FuseExport.Mount(new FuseExportOptions
            {
                MountPoint = directory,
                Files = [new FuseFile { Name = "a", Disk = a.Disk }, new FuseFile { Name = "b.img", Disk = b.Disk, ReadOnly = true }],
                IoUring = ioUring ? FuseIoUringMode.On : FuseIoUringMode.Off,
            }))
            {
                Assert.Equal(ioUring, export.UsesIoUring);
                Assert.Equal(["a", "b.img"], Directory.GetFiles(directory).Select(Path.GetFileName).Order(StringComparer.Ordinal));
                Assert.Equal(2L << 20, new FileInfo(Path.Combine(directory, "b.img")).Length);
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead, File.GetUnixFileMode(Path.Combine(directory, "b.img")));
                IOException readOnly = Assert.ThrowsAny<IOException>(() => new FileStream(Path.Combine(directory, "b.img"), FileMode.Open, FileAccess.Write).Dispose());
                Assert.Contains("read-only", readOnly.Message, StringComparison.OrdinalIgnoreCase);
                await File.WriteAllBytesAsync(Path.Combine(directory, "a"), new byte[4096]);
            }

            // Unmounted: the directory is plain and empty again.
            Assert.Empty(Directory.GetFileSystemEntries(directory));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Dispose_WhileALoopDeviceHoldsTheFile_AbortsAfterTheTimeout_AndTheExportEnds(bool ioUring)
    {
        ExternalTool.Require("losetup");
        FuseRequirements.RequireRootWithFuse();
        using IDisposable? parameter = ioUring ? FuseUringParameter.Enable() : null;
        await using NullBlock nullb = NullBlock.Create("memory_backed=1,size=8M,irqmode=0");
        string directory = Directory.CreateTempSubdirectory("blkmq-fuse-").FullName;
        string? loop = null;
        try
        {
            FuseExport export = FuseExport.Mount(new FuseExportOptions
            {
                MountPoint = directory,
                Files = [new FuseFile { Name = "disk", Disk = nullb.Disk }],
                UnmountTimeout = TimeSpan.FromSeconds(1),
                IoUring = ioUring ? FuseIoUringMode.On : FuseIoUringMode.Off,
            });
            loop = (await ExternalTool.RunCheckedAsync("losetup", ["--find", "--show", export.FilePaths[0]], s_timeout)).StandardOutput.Trim();
            await export.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
            Assert.True(export.Completion.IsCompleted);
            Assert.Equal(0, nullb.Disk.InFlight);
        }
        finally
        {
            if (loop is not null)
            {
                await ExternalTool.RunAsync("losetup", ["--detach", loop], s_timeout);
            }

            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Dispose_AfterSomeoneDetachedTheMount_ServesTheOpenFileUntilTheTimeout_AndLeavesTheNextMountAlone()
    {
        ExternalTool.Require("umount");
        FuseRequirements.RequireRootWithFuse();
        await using NullBlock first = NullBlock.Create("memory_backed=1,size=1M,irqmode=0");
        await using NullBlock second = NullBlock.Create("memory_backed=1,size=1M,irqmode=0");
        string directory = Directory.CreateTempSubdirectory("blkmq-fuse-").FullName;
        FuseExport? next = null;
        try
        {
            FuseExport export = FuseExport.Mount(new FuseExportOptions
            {
                MountPoint = directory,
                Files = [new FuseFile { Name = "disk", Disk = first.Disk }],
                DirectIO = true,
                UnmountTimeout = TimeSpan.FromSeconds(3),
            });
            Task disposed;
            await using (FileStream open = new(export.FilePaths[0], FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1))
            {
                // umount -l: the mount leaves the directory but lives on while its file is open; another server mounts there.
                await ExternalTool.RunCheckedAsync("umount", ["-l", directory], s_timeout);
                next = FuseExport.Mount(new FuseExportOptions
                {
                    MountPoint = directory,
                    Files = [new FuseFile { Name = "next", Disk = second.Disk }],
                });

                // Stopping the first export neither aborts its open file at once nor unmounts the next one.
                disposed = export.DisposeAsync().AsTask();
                await Task.Delay(500, TestContext.Current.CancellationToken);
                Assert.False(disposed.IsCompleted);
                byte[] read = new byte[512];
                await open.ReadExactlyAsync(read, TestContext.Current.CancellationToken);
                Assert.False(next.Completion.IsCompleted);
                Assert.Single(MountTable.At(directory));
                Assert.True(File.Exists(next.FilePaths[0]));

                // Past the timeout the open file's connection is aborted, and the export ends.
                await disposed.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
                Assert.True(export.Completion.IsCompleted);
            }

            Assert.False(next.Completion.IsCompleted);
            Assert.Equal(1L << 20, new FileInfo(next.FilePaths[0]).Length);
        }
        finally
        {
            if (next is not null)
            {
                await next.DisposeAsync();
            }

            DeadFuseMount.DetachAll(directory);
            Directory.Delete(directory, recursive: true);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task UnmountedByAnotherProcess_CompletesTheExport(bool ioUring)
    {
        ExternalTool.Require("umount");
        FuseRequirements.RequireRootWithFuse();
        await using var rig = await FuseRig.MountAsync("memory_backed=1,size=1M,irqmode=0", ioUring: ioUring);
        await ExternalTool.RunCheckedAsync("umount", [rig.Export.MountPoint], s_timeout);
        await rig.Export.Completion.WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
    }

    /// <summary>A null disk mounted as <c>DIR/mnt/disk</c> in a fresh temp directory; disposing unmounts and cleans up.</summary>
    private sealed class FuseRig : IAsyncDisposable
    {
        private readonly NullBlock _nullb;
        private readonly IDisposable? _parameter;

        private FuseRig(NullBlock nullb, FuseExport export, string directory, IDisposable? parameter)
        {
            _nullb = nullb;
            _parameter = parameter;
            Export = export;
            Directory = directory;
        }

        public FuseExport Export { get; }

        public string Directory { get; }

        public Disk Disk => _nullb.Disk;

        public string Path => Export.FilePaths[0];

        public static async Task<FuseRig> MountAsync(string spec, bool directIO = false, bool ioUring = false)
        {
            IDisposable? parameter = ioUring ? FuseUringParameter.Enable() : null;
            string directory = System.IO.Directory.CreateTempSubdirectory("blkmq-fuse-").FullName;
            string mountPoint = System.IO.Path.Combine(directory, "mnt");
            System.IO.Directory.CreateDirectory(mountPoint);
            NullBlock nullb = NullBlock.Create(spec);
            try
            {
                FuseExport export = FuseExport.Mount(new FuseExportOptions
                {
                    MountPoint = mountPoint,
                    Files = [new FuseFile { Name = "disk", Disk = nullb.Disk }],
                    DirectIO = directIO,
                    IoUring = ioUring ? FuseIoUringMode.On : FuseIoUringMode.Off,
                });
                Assert.Equal(ioUring, export.UsesIoUring);
                return new FuseRig(nullb, export, directory, parameter);
            }
            catch
            {
                await nullb.DisposeAsync();
                parameter?.Dispose();
                throw;
            }
        }

        public async ValueTask DisposeAsync()
        {
            await Export.DisposeAsync();
            if (_parameter is not null)
            {
                Assert.True(Export.RingRequests > 0, "the io_uring queues served nothing");
                _parameter.Dispose();
            }

            await _nullb.DisposeAsync();
            System.IO.Directory.Delete(Directory, recursive: true);
        }
    }
}
