using Blkmq.Drivers.File;

namespace Blkmq.Tests.FileBacked;

/// <summary>
/// The allocation map's cheap answers (the NBD server asks it on every read): a file written in full reports data
/// without looking, until this disk discards a range, after which the hole shows; a short range that starts with data
/// is data; a long one is split at the hole.
/// </summary>
public sealed class FileAllocationFastPathTests
{
    private const int MiB = 1 << 20;

    [Theory]
    [MemberData(nameof(FileDriverRoundTripTests.Engines), MemberType = typeof(FileDriverRoundTripTests))]
    public async Task FullyWrittenFile_ReportsData_UntilADiscardMakesAHole(FileEngine engine)
    {
        await using FileScope scope = FileScope.CreateDirectory();
        byte[] content = new byte[16 * MiB];
        new Random(21).NextBytes(content);
        await System.IO.File.WriteAllBytesAsync(scope.ImagePath, content, TestContext.Current.CancellationToken);
        FileBlock block = scope.Open(FileDriverOptions.Parse($"path={scope.ImagePath},engine={FileDriverOptions.FormatEngine(engine)}"));
        Assert.False(block.File.MayHaveHoles);
        IAllocationSource allocation = block.Disk.Allocation!;
        Assert.Equal(new AllocationExtent(true, 16 * MiB), await allocation.GetExtentAsync(0, 16 * MiB));

        BlockDevice device = block.Disk.OpenDevice();
        await device.DiscardAsync(8 * MiB, 2 * MiB);
        Assert.True(block.File.MayHaveHoles);
        Assert.Equal(new AllocationExtent(true, 8 * MiB), await allocation.GetExtentAsync(0, 16 * MiB));
        Assert.Equal(new AllocationExtent(false, 2 * MiB), await allocation.GetExtentAsync(8 * MiB, 8 * MiB));

        // A read-sized range that starts with data is data, even where it runs into the hole: its bytes read as zeroes.
        Assert.Equal(new AllocationExtent(true, MiB), await allocation.GetExtentAsync(7 * MiB, MiB));
        Assert.Equal(new AllocationExtent(true, 2 * MiB), await allocation.GetExtentAsync(7 * MiB, 2 * MiB));
        byte[] read = new byte[MiB];
        await device.ReadAsync(8 * MiB, read);
        Assert.True(read.AsSpan().IndexOfAnyExcept((byte)0) < 0, "the discarded range reads as zeroes");
    }

    [Fact]
    public async Task SparseFile_HasHolesFromTheStart()
    {
        await using FileScope scope = FileScope.Create(FileEngine.Threads, 16 * MiB);
        Assert.True(scope.Block!.File.MayHaveHoles);
        Assert.Equal(new AllocationExtent(false, 16 * MiB), await scope.Disk.Allocation!.GetExtentAsync(0, 16 * MiB));
    }
}
