using Blkmq.Drivers.Null;
using Blkmq.Tests.Infrastructure;

namespace Blkmq.Tests.NullBlk;

/// <summary>
/// cache_size and fua: a volatile write-back cache that a power cut empties; its IO, and a write it must refuse, in
/// each of the <see cref="CompletionModes"/>.
/// </summary>
public sealed class NullBlkWriteCacheTests
{
    [Fact]
    public async Task CacheSize_GivesTheDiskAWriteCacheWithFua()
    {
        await using NullBlock cached = NullBlock.Create("cache_size=1,memory_backed=1,size=4M");
        await using NullBlock noFua = NullBlock.Create("cache_size=1,fua=0,memory_backed=1,size=4M");
        await using NullBlock plain = NullBlock.Create("memory_backed=1,size=4M");
        await using NullBlock noMemory = NullBlock.Create("cache_size=1,size=4M");
        Assert.True(cached.Disk.HasWriteCache);
        Assert.True(cached.Disk.SupportsFua);
        Assert.True(noFua.Disk.HasWriteCache);
        Assert.False(noFua.Disk.SupportsFua);
        Assert.False(plain.Disk.HasWriteCache);

        // As null_blk: a cache is meaningless without memory backing and is ignored.
        Assert.False(noMemory.Disk.HasWriteCache);
    }

    [Theory]
    [MemberData(nameof(CompletionModes.All), MemberType = typeof(CompletionModes))]
    public async Task PowerCut_LosesOnlyDataNeitherFlushedNorFua(string mode)
    {
        await using NullBlock nullb = NullBlock.Create("cache_size=1,memory_backed=1,size=4M," + mode);
        ModeDevice device = CompletionModes.Open(nullb.Disk, mode);
        await device.WriteAsync(0, Fill(4096, 1));
        await device.FlushAsync();
        await device.WriteAsync(0, Fill(4096, 2));
        await device.WriteAsync(8192, Fill(4096, 3));
        await device.WriteAsync(16384, Fill(4096, 4), RequestFlags.Fua);
        Assert.Equal(2 * 4096, nullb.Devices[0].CachedBytes);

        // Before the cut the cache serves the newest data.
        Assert.Equal(2, await ReadByteAsync(device, 0));

        nullb.PowerCut(0);
        Assert.Equal(0, nullb.Devices[0].CachedBytes);
        Assert.Equal(1, await ReadByteAsync(device, 0));
        Assert.Equal(0, await ReadByteAsync(device, 8192));
        Assert.Equal(4, await ReadByteAsync(device, 16384));
    }

    [Theory]
    [MemberData(nameof(CompletionModes.All), MemberType = typeof(CompletionModes))]
    public async Task FuaOff_AFuaWriteBecomesAWriteAndAFlush(string mode)
    {
        await using NullBlock nullb = NullBlock.Create("cache_size=1,fua=0,memory_backed=1,size=4M," + mode);
        ModeDevice device = CompletionModes.Open(nullb.Disk, mode);
        await device.WriteAsync(0, Fill(4096, 5), RequestFlags.Fua);
        Assert.Equal(1, nullb.Disk.GetStatistics().FlushIos);

        nullb.Devices[0].PowerCut();
        Assert.Equal(5, await ReadByteAsync(device, 0));
    }

    [Theory]
    [MemberData(nameof(CompletionModes.All), MemberType = typeof(CompletionModes))]
    public async Task FullCache_WritesTheOldestPagesBack(string mode)
    {
        await using NullBlock nullb = NullBlock.Create("cache_size=1,memory_backed=1,size=4M," + mode);
        ModeDevice device = CompletionModes.Open(nullb.Disk, mode);

        // 2 MiB through a 1 MiB cache, in order: the first megabyte is pushed out to the backing memory.
        for (int i = 0; i < 8; i++)
        {
            await device.WriteAsync(i * 262144L, Fill(262144, (byte)(i + 1)));
        }

        Assert.Equal(1L << 20, nullb.Devices[0].CachedBytes);
        nullb.Devices[0].PowerCut();
        for (int i = 0; i < 8; i++)
        {
            Assert.Equal(i < 4 ? i + 1 : 0, await ReadByteAsync(device, i * 262144L));
        }
    }

    [Theory]
    [MemberData(nameof(CompletionModes.All), MemberType = typeof(CompletionModes))]
    public async Task Discard_ReachesCachedData(string mode)
    {
        await using NullBlock nullb = NullBlock.Create("cache_size=1,memory_backed=1,discard=1,size=4M," + mode);
        ModeDevice device = CompletionModes.Open(nullb.Disk, mode);
        await device.WriteAsync(0, Fill(8192, 9));
        await device.DiscardAsync(0, 4096);
        await device.FlushAsync();
        Assert.Equal(0, await ReadByteAsync(device, 0));
        Assert.Equal(9, await ReadByteAsync(device, 4096));
    }

    [Theory]
    [MemberData(nameof(CompletionModes.All), MemberType = typeof(CompletionModes))]
    public async Task WriteToABadBlock_FailsAndLeavesNothingInTheCache(string mode)
    {
        await using NullBlock nullb = NullBlock.Create("cache_size=1,memory_backed=1,badblocks=16-23,size=4M," + mode);
        ModeDevice device = CompletionModes.Open(nullb.Disk, mode);
        await device.WriteAsync(0, Fill(4096, 1));
        await device.FlushAsync();

        BlockIOException write = await Assert.ThrowsAsync<BlockIOException>(async () => await device.WriteAsync(4096, Fill(8192, 2)));
        Assert.Equal(BlockStatus.IoError, write.Status);
        BlockIOException fua = await Assert.ThrowsAsync<BlockIOException>(async () => await device.WriteAsync(8192, Fill(4096, 3), RequestFlags.Fua));
        Assert.Equal(BlockStatus.IoError, fua.Status);
        BlockIOException read = await Assert.ThrowsAsync<BlockIOException>(async () => await device.ReadAsync(8192, new byte[512]));
        Assert.Equal(BlockStatus.IoError, read.Status);
        Assert.Equal(0, nullb.Devices[0].CachedBytes);

        nullb.Devices[0].BadBlocks.Clear();
        Assert.Equal(1, await ReadByteAsync(device, 0));
        Assert.Equal(0, await ReadByteAsync(device, 4096));
        Assert.Equal(0, await ReadByteAsync(device, 8192));
    }

    private static byte[] Fill(int length, byte value) => Enumerable.Repeat(value, length).ToArray();

    private static async Task<byte> ReadByteAsync(ModeDevice device, long offset)
    {
        byte[] buffer = new byte[512];
        await device.ReadAsync(offset, buffer);
        Assert.All(buffer, b => Assert.Equal(buffer[0], b));
        return buffer[0];
    }
}
