using Blkmq.Drivers.Null;

namespace Blkmq.Tests;

public sealed class NullDriverSmokeTests
{
    [Theory]
    [InlineData(IrqMode.None)]
    [InlineData(IrqMode.SoftIrq)]
    [InlineData(IrqMode.Timer)]
    public async Task MemoryBacked_WriteThenRead_ReturnsData(IrqMode mode)
    {
        await using NullBlock nullb = NullBlock.Create(new NullBlockOptions { IrqMode = mode, MemoryBacked = true, Size = 1 << 20 });
        BlockDevice device = nullb.Disk.OpenDevice();
        byte[] data = new byte[8192];
        Random.Shared.NextBytes(data);
        await device.WriteAsync(4096, data);
        byte[] back = new byte[8192];
        await device.ReadAsync(4096, back);
        Assert.Equal(data, back);
        Assert.Equal(0, nullb.TagSets[0].TagsInUse);
        DiskStats stats = nullb.Disk.GetStatistics();
        Assert.Equal(1, stats.ReadIos);
        Assert.Equal(1, stats.WriteIos);
        Assert.Equal(16, stats.ReadSectors);
    }
}
