using Blkmq.Drivers.Null;
using Blkmq.Emulation;
using Blkmq.Tests.Infrastructure;

namespace Blkmq.Tests.NullBlk;

/// <summary>
/// badblocks, badblocks_once and badblocks_partial_io, changed at runtime; every IO error in each of the
/// <see cref="CompletionModes"/>, so an end path that drops the status fails here.
/// </summary>
public sealed class NullBlkBadBlocksTests
{
    [Theory]
    [MemberData(nameof(CompletionModes.All), MemberType = typeof(CompletionModes))]
    public async Task ReadOfABadBlockFails_OthersSucceed(string mode)
    {
        await using NullBlock nullb = NullBlock.Create("size=1M," + mode);
        ModeDevice device = CompletionModes.Open(nullb.Disk, mode);
        nullb.Devices[0].BadBlocks.Add(8, 8);

        BlockIOException error = await Assert.ThrowsAsync<BlockIOException>(async () => await device.ReadAsync(4096, new byte[4096]));
        Assert.Equal(BlockStatus.IoError, error.Status);
        await Assert.ThrowsAsync<BlockIOException>(async () => await device.ReadAsync(0, new byte[8192]));
        await Assert.ThrowsAsync<BlockIOException>(async () => await device.WriteAsync(7 * 512, new byte[1024]));
        await device.ReadAsync(0, new byte[4096]);
        await device.ReadAsync(8192, new byte[4096]);
    }

    [Theory]
    [MemberData(nameof(CompletionModes.All), MemberType = typeof(CompletionModes))]
    public async Task BadBlocksFromOptions_AndTheirRemovalAtRuntime(string mode)
    {
        await using NullBlock nullb = NullBlock.Create("badblocks=8-15,size=1M," + mode);
        ModeDevice device = CompletionModes.Open(nullb.Disk, mode);
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

    [Theory]
    [MemberData(nameof(CompletionModes.All), MemberType = typeof(CompletionModes))]
    public async Task BadBlocksOnce_TheFailedRangeIsCleared(string mode)
    {
        await using NullBlock nullb = NullBlock.Create("badblocks_once=1,badblocks=8-15,size=1M," + mode);
        ModeDevice device = CompletionModes.Open(nullb.Disk, mode);
        await Assert.ThrowsAsync<BlockIOException>(async () => await device.ReadAsync(4096, new byte[4096]));
        Assert.True(nullb.Devices[0].BadBlocks.IsEmpty);
        await device.ReadAsync(4096, new byte[4096]);
    }

    [Theory]
    [MemberData(nameof(CompletionModes.All), MemberType = typeof(CompletionModes))]
    public async Task PartialIo_AWriteKeepsTheBlocksBeforeTheBadOne(string mode)
    {
        await using NullBlock nullb = NullBlock.Create("badblocks_partial_io=1,badblocks=10-10,memory_backed=1,bs=1024,size=1M," + mode);
        ModeDevice device = CompletionModes.Open(nullb.Disk, mode);
        BlockIOException error = await Assert.ThrowsAsync<BlockIOException>(async () => await device.WriteAsync(0, Enumerable.Repeat((byte)0x5A, 8192).ToArray()));
        Assert.Equal(BlockStatus.IoError, error.Status);

        // Sector 10 lies in the 1 KiB block of sectors 10-11: sectors 0-9 were written, the rest not.
        nullb.Devices[0].BadBlocks.Clear();
        byte[] back = new byte[8192];
        await device.ReadAsync(0, back);
        Assert.All(back.AsSpan(0, 5120).ToArray(), static b => Assert.Equal(0x5A, b));
        Assert.All(back.AsSpan(5120).ToArray(), static b => Assert.Equal(0, b));
    }

    [Theory]
    [MemberData(nameof(CompletionModes.All), MemberType = typeof(CompletionModes))]
    public async Task WithoutPartialIo_AFailedWriteWritesNothing(string mode)
    {
        await using NullBlock nullb = NullBlock.Create("badblocks=10-10,memory_backed=1,size=1M," + mode);
        ModeDevice device = CompletionModes.Open(nullb.Disk, mode);
        await Assert.ThrowsAsync<BlockIOException>(async () => await device.WriteAsync(0, Enumerable.Repeat((byte)0x5A, 8192).ToArray()));
        nullb.Devices[0].BadBlocks.Clear();
        byte[] back = new byte[8192];
        await device.ReadAsync(0, back);
        Assert.All(back, static b => Assert.Equal(0, b));
        Assert.Equal(0, nullb.Devices[0].AllocatedBytes);
    }
}
