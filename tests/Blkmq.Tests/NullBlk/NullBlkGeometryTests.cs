using Blkmq.Drivers.Null;
using Blkmq.Tests.Infrastructure;

namespace Blkmq.Tests.NullBlk;

/// <summary>gb / size, bs, max_sectors, virt_boundary and rotational, seen through the disk and its IO.</summary>
public sealed class NullBlkGeometryTests
{
    [Fact]
    public async Task Gb_SetsCapacityInGibibytes()
    {
        await using NullBlock nullb = NullBlock.Create("gb=2");
        Assert.Equal(2L << 30, nullb.Disk.Capacity);
    }

    [Theory]
    [MemberData(nameof(CompletionModes.All), MemberType = typeof(CompletionModes))]
    public async Task Size_SetsCapacityInBytes(string mode)
    {
        await using NullBlock nullb = NullBlock.Create("size=3M," + mode);
        ModeDevice device = CompletionModes.Open(nullb.Disk, mode);
        Assert.Equal(3L << 20, device.Size);
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await device.ReadAsync(3L << 20, new byte[512]));
    }

    public static TheoryData<string, int> BlockSizesInEachMode
    {
        get
        {
            var data = new TheoryData<string, int>();
            foreach (string mode in CompletionModes.Each)
            {
                data.Add(mode, 512);
                data.Add(mode, 4096);
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(BlockSizesInEachMode))]
    public async Task Bs_SetsTheBlockSizeIoMustAlignTo(string mode, int blockSize)
    {
        await using NullBlock nullb = NullBlock.Create($"bs={blockSize},size=1M," + mode);
        ModeDevice device = CompletionModes.Open(nullb.Disk, mode);
        Assert.Equal(blockSize, device.Device.LogicalBlockSize);
        Assert.Equal(blockSize, device.Device.PhysicalBlockSize);
        await device.ReadAsync(0, new byte[blockSize]);
        if (blockSize > 512)
        {
            await Assert.ThrowsAsync<ArgumentException>(async () => await device.ReadAsync(0, new byte[512]));
        }
    }

    [Fact]
    public async Task MaxSectors_SplitsLargerIo()
    {
        await using NullBlock nullb = NullBlock.Create("max_sectors=8,size=1M,irqmode=0,memory_backed=1");
        Assert.Equal(8, nullb.Disk.Limits.MaxSectors);
        await nullb.Disk.OpenDevice().WriteAsync(0, new byte[16384]);
        Assert.Equal(4, nullb.Disk.GetStatistics().WriteIos);
    }

    [Fact]
    public async Task VirtBoundary_SetsAPageBoundaryMask()
    {
        await using NullBlock with = NullBlock.Create("virt_boundary=1,size=1M");
        await using NullBlock without = NullBlock.Create("size=1M");
        Assert.Equal(4095, with.Disk.Limits.VirtBoundaryMask);
        Assert.Equal(0, without.Disk.Limits.VirtBoundaryMask);
    }

    [Fact]
    public async Task Rotational_MarksTheDisk()
    {
        await using NullBlock rotational = NullBlock.Create("rotational=1,size=1M");
        await using NullBlock solid = NullBlock.Create("size=1M");
        Assert.True(rotational.Disk.IsRotational);
        Assert.False(solid.Disk.IsRotational);
    }
}
