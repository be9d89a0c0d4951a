using Blkmq.Drivers.File;

namespace Blkmq.Tests.FileBacked;

/// <summary>Discard punches holes, write zeroes reads back as zeroes, and the allocation map comes from SEEK_DATA / SEEK_HOLE, on both engines.</summary>
public sealed class FileDriverSparseTests
{
    private const int MiB = 1 << 20;

    public static TheoryData<FileEngine> Engines => FileDriverRoundTripTests.Engines;

    [Theory]
    [MemberData(nameof(Engines))]
    public async Task Discard_PunchesAHole_AllocationReportsIt_ReadsZeroes(FileEngine engine)
    {
        await using FileScope scope = FileScope.Create(engine);
        BlockDevice device = scope.Disk.OpenDevice();
        IAllocationSource allocation = scope.Disk.Allocation!;
        Assert.NotNull(allocation);

        AllocationExtent empty = await allocation.GetExtentAsync(0, 16 * MiB);
        Assert.Equal(new AllocationExtent(false, 16 * MiB), empty);

        byte[] data = new byte[2 * MiB];
        new Random(9).NextBytes(data);
        await device.WriteAsync(4 * MiB, data);
        await device.FlushAsync();
        Assert.Equal(new AllocationExtent(false, 4 * MiB), await allocation.GetExtentAsync(0, 16 * MiB));
        Assert.Equal(new AllocationExtent(true, 2 * MiB), await allocation.GetExtentAsync(4 * MiB, 12 * MiB));

        await device.DiscardAsync(5 * MiB, MiB);
        Assert.Equal(new AllocationExtent(true, MiB), await allocation.GetExtentAsync(4 * MiB, 12 * MiB));
        Assert.Equal(new AllocationExtent(false, 11 * MiB), await allocation.GetExtentAsync(5 * MiB, 11 * MiB));

        byte[] read = new byte[2 * MiB];
        await device.ReadAsync(4 * MiB, read);
        Assert.True(data.AsSpan(0, MiB).SequenceEqual(read.AsSpan(0, MiB)));
        Assert.True(read.AsSpan(MiB).IndexOfAnyExcept((byte)0) < 0, "a discarded range of a file reads as zeroes");
    }

    [Theory]
    [InlineData(FileEngine.Threads, true)]
    [InlineData(FileEngine.Threads, false)]
    [InlineData(FileEngine.IoUring, true)]
    [InlineData(FileEngine.IoUring, false)]
    public async Task WriteZeroes_ReadsBackZeroes_UnmapsOnlyWhenAllowed(FileEngine engine, bool mayUnmap)
    {
        await using FileScope scope = FileScope.Create(engine);
        BlockDevice device = scope.Disk.OpenDevice();
        byte[] data = new byte[MiB];
        new Random(11).NextBytes(data);
        await device.WriteAsync(2 * MiB, data);
        await device.WriteZeroesAsync(2 * MiB, MiB, mayUnmap);
        byte[] read = new byte[MiB];
        await device.ReadAsync(2 * MiB, read);
        Assert.True(read.AsSpan().IndexOfAnyExcept((byte)0) < 0);
        AllocationExtent extent = await scope.Disk.Allocation!.GetExtentAsync(2 * MiB, MiB);
        Assert.Equal(!mayUnmap, extent.Allocated);
    }

    [Theory]
    [InlineData(FileEngine.Threads)]
    [InlineData(FileEngine.IoUring)]
    public async Task WriteZeroes_NoUnmap_OnTmpfs_ProvisionsTheRange(FileEngine engine)
    {
        // tmpfs has no FALLOC_FL_ZERO_RANGE: the driver once fell back to a punched hole, leaving a NO_HOLE range
        // unprovisioned (and hiding ENOSPC); now it punches and allocates again, as nbdkit's file plugin does.
        await using FileScope scope = FileScope.Create(engine, parent: FileScope.InMemory);
        BlockDevice device = scope.Disk.OpenDevice();
        byte[] data = new byte[MiB];
        new Random(12).NextBytes(data);
        await device.WriteAsync(2 * MiB, data);
        await device.WriteZeroesAsync(2 * MiB, MiB, mayUnmap: false);
        await device.WriteZeroesAsync(8 * MiB, MiB, mayUnmap: false); // never written
        Assert.Equal(2L * MiB, AllocatedBytes(scope.ImagePath));
        foreach (long offset in new long[] { 2 * MiB, 8 * MiB })
        {
            byte[] read = new byte[MiB];
            await device.ReadAsync(offset, read);
            Assert.True(read.AsSpan().IndexOfAnyExcept((byte)0) < 0);
        }

        // (Block status still calls the range a hole: SEEK_DATA treats tmpfs's allocated but never written pages, like
        // ext4's unwritten extents, as holes; what NO_HOLE promises, the space, is there.)

        await device.WriteZeroesAsync(8 * MiB, MiB, mayUnmap: true);
        Assert.Equal(1L * MiB, AllocatedBytes(scope.ImagePath));
    }

    [Theory]
    [InlineData(FileEngine.Threads)]
    [InlineData(FileEngine.IoUring)]
    public async Task WriteZeroes_OnAFileSystemWithoutFallocate_WritesZeroes_UnlessNoFallback(FileEngine engine)
    {
        // ramfs has no fallocate at all: write zeroes falls back to zero buffers, which NBD's FAST_ZERO (NoFallback)
        // refuses with ENOTSUP so that the client can choose another way.
        await using ScratchMount ramfs = await ScratchMount.CreateAsync("ramfs");
        await using FileScope scope = FileScope.Create(engine, size: 4 * MiB, parent: ramfs.Path);
        BlockDevice device = scope.Disk.OpenDevice();
        byte[] data = new byte[MiB];
        new Random(13).NextBytes(data);
        await device.WriteAsync(0, data);

        Assert.Equal(BlockStatus.NotSupported, await device.WriteZeroesStatusAsync(0, MiB, mayUnmap: true, noFallback: true));
        Assert.Equal(BlockStatus.NotSupported, await device.WriteZeroesStatusAsync(0, MiB, mayUnmap: false, noFallback: true));
        byte[] read = new byte[MiB];
        await device.ReadAsync(0, read);
        Assert.Equal(data, read);

        Assert.Equal(BlockStatus.Ok, await device.WriteZeroesStatusAsync(0, MiB, mayUnmap: false));
        await device.ReadAsync(0, read);
        Assert.True(read.AsSpan().IndexOfAnyExcept((byte)0) < 0);
    }

    /// <summary>The bytes a file's blocks take (<c>st_blocks</c> × 512).</summary>
    private static long AllocatedBytes(string path)
    {
        using var stat = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("stat", ["-c", "%b", path]) { RedirectStandardOutput = true, UseShellExecute = false })!;
        string blocks = stat.StandardOutput.ReadToEnd();
        stat.WaitForExit();
        return long.Parse(blocks, System.Globalization.CultureInfo.InvariantCulture) * 512;
    }
}
