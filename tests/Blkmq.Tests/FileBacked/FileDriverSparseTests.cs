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
}
