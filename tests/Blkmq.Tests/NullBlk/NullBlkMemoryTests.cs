using Blkmq.Drivers.Null;
using Blkmq.Tests.Infrastructure;

namespace Blkmq.Tests.NullBlk;

/// <summary>memory_backed and discard.</summary>
public sealed class NullBlkMemoryTests
{
    [Fact]
    public async Task NotMemoryBacked_ReadsLeaveTheBufferAlone()
    {
        await using NullBlock nullb = NullBlock.Create("irqmode=0,size=1M");
        BlockDevice device = nullb.Disk.OpenDevice();
        await device.WriteAsync(0, Enumerable.Repeat((byte)7, 512).ToArray());
        byte[] buffer = Enumerable.Repeat((byte)0xAA, 512).ToArray();
        await device.ReadAsync(0, buffer);
        Assert.All(buffer, static b => Assert.Equal(0xAA, b));
        Assert.Equal(0, nullb.Devices[0].AllocatedBytes);
        Assert.False(nullb.Disk.ReadsFillBuffers);
    }

    [Fact]
    public async Task MemoryBacked_ReadsFillEveryByte_WrittenOrNot()
    {
        await using NullBlock nullb = NullBlock.Create("memory_backed=1,irqmode=0,size=1M");
        Assert.True(nullb.Disk.ReadsFillBuffers);
        BlockDevice device = nullb.Disk.OpenDevice();
        await device.WriteAsync(4096, Enumerable.Repeat((byte)7, 512).ToArray());
        byte[] buffer = Enumerable.Repeat((byte)0xAA, 12288).ToArray();
        await device.ReadAsync(0, buffer);
        Assert.All(buffer.AsSpan(0, 4096).ToArray(), static b => Assert.Equal(0, b));
        Assert.All(buffer.AsSpan(4096, 512).ToArray(), static b => Assert.Equal(7, b));
        Assert.All(buffer.AsSpan(4608).ToArray(), static b => Assert.Equal(0, b));
    }

    [Fact]
    public async Task MemoryBacked_ReadsBackWhatWasWritten()
    {
        await using NullBlock nullb = NullBlock.Create("irqmode=0,size=1M,memory_backed=1");
        BlockDevice device = nullb.Disk.OpenDevice();
        await device.WriteAsync(4096, Enumerable.Repeat((byte)7, 512).ToArray());
        byte[] buffer = new byte[1024];
        await device.ReadAsync(4096, buffer);
        Assert.All(buffer.AsSpan(0, 512).ToArray(), static b => Assert.Equal(7, b));
        Assert.All(buffer.AsSpan(512).ToArray(), static b => Assert.Equal(0, b));
        Assert.Equal(4096, nullb.Devices[0].AllocatedBytes);
    }

    [Fact]
    public async Task Discard_FreesPagesThatThenReadAsZeroes()
    {
        await using NullBlock nullb = NullBlock.Create("irqmode=0,size=1M,memory_backed=1,discard=1");
        BlockDevice device = nullb.Disk.OpenDevice();
        Assert.True(nullb.Disk.SupportsDiscard);
        await device.WriteAsync(0, Enumerable.Repeat((byte)7, 8192).ToArray());
        Assert.Equal(8192, nullb.Devices[0].AllocatedBytes);

        await device.DiscardAsync(0, 8192);
        Assert.Equal(0, nullb.Devices[0].AllocatedBytes);
        byte[] buffer = Enumerable.Repeat((byte)0xAA, 8192).ToArray();
        await device.ReadAsync(0, buffer);
        Assert.All(buffer, static b => Assert.Equal(0, b));
    }

    [Theory]
    [MemberData(nameof(CompletionModes.All), MemberType = typeof(CompletionModes))]
    public async Task NoDiscard_DiscardIsNotSupported(string mode)
    {
        await using NullBlock nullb = NullBlock.Create("size=1M,memory_backed=1," + mode);
        Assert.False(nullb.Disk.SupportsDiscard);
        BlockIOException error = await Assert.ThrowsAsync<BlockIOException>(async () => await CompletionModes.Open(nullb.Disk, mode).DiscardAsync(0, 4096));
        Assert.Equal(BlockStatus.NotSupported, error.Status);
    }
}
