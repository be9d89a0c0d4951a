using Blkmq.Drivers.Null;

namespace Blkmq.Tests.NullBlk;

/// <summary>badblocks, badblocks_once and badblocks_partial_io, changed at runtime.</summary>
public sealed class NullBlkBadBlocksTests
{
    [Fact]
    public async Task ReadOfABadBlockFails_OthersSucceed()
    {
        await using NullBlock nullb = NullBlock.Create("irqmode=0,size=1M");
        BlockDevice device = nullb.Disk.OpenDevice();
        nullb.Devices[0].BadBlocks.Add(8, 8);

        BlockIOException error = await Assert.ThrowsAsync<BlockIOException>(async () => await device.ReadAsync(4096, new byte[4096]));
        Assert.Equal(BlockStatus.IoError, error.Status);
        await Assert.ThrowsAsync<BlockIOException>(async () => await device.ReadAsync(0, new byte[8192]));
        await Assert.ThrowsAsync<BlockIOException>(async () => await device.WriteAsync(7 * 512, new byte[1024]));
        await device.ReadAsync(0, new byte[4096]);
        await device.ReadAsync(8192, new byte[4096]);
    }

    [Fact]
    public async Task BadBlocksFromOptions_AndTheirRemovalAtRuntime()
    {
        await using NullBlock nullb = NullBlock.Create("badblocks=8-15,irqmode=0,size=1M");
        BlockDevice device = nullb.Disk.OpenDevice();
        NullBadBlocks badBlocks = nullb.Devices[0].BadBlocks;
        Assert.Equal([new BadBlockRange(8, 8)], badBlocks.Ranges);
        await Assert.ThrowsAsync<BlockIOException>(async () => await device.ReadAsync(4096, new byte[512]));

        badBlocks.Apply("-8-15");
        Assert.True(badBlocks.IsEmpty);
        await device.ReadAsync(4096, new byte[512]);

        badBlocks.Apply("+8-8");
        await Assert.ThrowsAsync<BlockIOException>(async () => await device.ReadAsync(4096, new byte[512]));
        badBlocks.Clear();
        await device.ReadAsync(4096, new byte[512]);
    }

    [Fact]
    public void Ranges_MergeAndSplit_AndShowAsNullBlkDoes()
    {
        using NullBlock nullb = NullBlock.Create("size=1M");
        NullBadBlocks badBlocks = nullb.Devices[0].BadBlocks;
        badBlocks.Add(0, 4);
        badBlocks.Add(4, 4);
        badBlocks.Add(20, 2);
        Assert.Equal([new BadBlockRange(0, 8), new BadBlockRange(20, 2)], badBlocks.Ranges);

        Assert.True(badBlocks.Remove(2, 2));
        Assert.Equal([new BadBlockRange(0, 2), new BadBlockRange(4, 4), new BadBlockRange(20, 2)], badBlocks.Ranges);
        Assert.False(badBlocks.Remove(10, 5));
        Assert.True(badBlocks.Contains(5));
        Assert.False(badBlocks.Contains(3));
        Assert.Equal("0 2\n4 4\n20 2\n", badBlocks.ToString());
        Assert.Throws<FormatException>(() => badBlocks.Apply("8-15"));
    }

    [Fact]
    public async Task BadBlocksOnce_TheFailedRangeIsCleared()
    {
        await using NullBlock nullb = NullBlock.Create("badblocks_once=1,badblocks=8-15,irqmode=0,size=1M");
        BlockDevice device = nullb.Disk.OpenDevice();
        await Assert.ThrowsAsync<BlockIOException>(async () => await device.ReadAsync(4096, new byte[4096]));
        Assert.True(nullb.Devices[0].BadBlocks.IsEmpty);
        await device.ReadAsync(4096, new byte[4096]);
    }

    [Fact]
    public async Task PartialIo_AWriteKeepsTheBlocksBeforeTheBadOne()
    {
        await using NullBlock nullb = NullBlock.Create("badblocks_partial_io=1,badblocks=10-10,memory_backed=1,bs=1024,irqmode=0,size=1M");
        BlockDevice device = nullb.Disk.OpenDevice();
        BlockIOException error = await Assert.ThrowsAsync<BlockIOException>(async () => await device.WriteAsync(0, Enumerable.Repeat((byte)0x5A, 8192).ToArray()));
        Assert.Equal(BlockStatus.IoError, error.Status);

        // Sector 10 lies in the 1 KiB block of sectors 10-11: sectors 0-9 were written, the rest not.
        nullb.Devices[0].BadBlocks.Clear();
        byte[] back = new byte[8192];
        await device.ReadAsync(0, back);
        Assert.All(back.AsSpan(0, 5120).ToArray(), static b => Assert.Equal(0x5A, b));
        Assert.All(back.AsSpan(5120).ToArray(), static b => Assert.Equal(0, b));
    }

    [Fact]
    public async Task WithoutPartialIo_AFailedWriteWritesNothing()
    {
        await using NullBlock nullb = NullBlock.Create("badblocks=10-10,memory_backed=1,irqmode=0,size=1M");
        BlockDevice device = nullb.Disk.OpenDevice();
        await Assert.ThrowsAsync<BlockIOException>(async () => await device.WriteAsync(0, Enumerable.Repeat((byte)0x5A, 8192).ToArray()));
        nullb.Devices[0].BadBlocks.Clear();
        byte[] back = new byte[8192];
        await device.ReadAsync(0, back);
        Assert.All(back, static b => Assert.Equal(0, b));
        Assert.Equal(0, nullb.Devices[0].AllocatedBytes);
    }
}
