using Blkmq.Drivers.Null;

namespace Blkmq.Tests;

/// <summary>
/// <see cref="BlockDevice.ReadBytesAsync"/>, <see cref="BlockDevice.WriteBytesAsync"/> and
/// <see cref="BlockDevice.ZeroBytesAsync"/>: any offset and length, partial blocks read-modified-written without
/// losing a racing write.
/// </summary>
public sealed class ByteGranularAccessTests
{
    [Fact]
    public async Task RacingUnalignedWritesIntoOneBlock_AllSurvive()
    {
        // 64 writers each own 64 bytes of the same two 4 KiB blocks; every write is a read-modify-write of a whole
        // block, so without the range lock most of them would be undone by another's write-back. Completions after
        // 20 us on a timer keep each read-modify-write open long enough for the others to overlap it.
        await using NullBlock nullb = NullBlock.Create("irqmode=2,completion_nsec=20000,memory_backed=1,size=1M,bs=4096,hw_queue_depth=128");
        BlockDevice device = nullb.Disk.OpenDevice();
        Task[] writers = new Task[64];
        for (int w = 0; w < writers.Length; w++)
        {
            int writer = w;
            writers[w] = Task.Run(async () =>
            {
                byte[] mine = Enumerable.Repeat((byte)(writer + 1), 64).ToArray();
                for (int round = 0; round < 5; round++)
                {
                    await device.WriteBytesAsync(4096 + 2000 + (writer * 64), mine, TestContext.Current.CancellationToken);
                }
            });
        }

        await Task.WhenAll(writers);
        byte[] read = new byte[64 * 64];
        await device.ReadBytesAsync(4096 + 2000, read, TestContext.Current.CancellationToken);
        for (int w = 0; w < writers.Length; w++)
        {
            Assert.True(read.AsSpan(w * 64, 64).IndexOfAnyExcept((byte)(w + 1)) < 0, $"writer {w}'s bytes were lost");
        }
    }

    [Theory]
    [InlineData(0, 4096)]
    [InlineData(100, 50)]
    [InlineData(100, 4000)]
    [InlineData(4000, 300)]
    [InlineData(1000, 20_000)]
    public async Task ZeroBytes_ZeroesExactlyTheRange(int offset, int length)
    {
        await using NullBlock nullb = NullBlock.Create(new NullBlockOptions { IrqMode = IrqMode.None, MemoryBacked = true, Discard = true, Size = 1 << 20, BlockSize = 4096 });
        BlockDevice device = nullb.Disk.OpenDevice();
        byte[] ones = Enumerable.Repeat((byte)1, 64 << 10).ToArray();
        await device.WriteAsync(0, ones);

        await device.ZeroBytesAsync(offset, length, mayUnmap: true, TestContext.Current.CancellationToken);

        byte[] read = new byte[64 << 10];
        await device.ReadAsync(0, read);
        Assert.True(read.AsSpan(0, offset).IndexOfAnyExcept((byte)1) < 0);
        Assert.True(read.AsSpan(offset, length).IndexOfAnyExcept((byte)0) < 0);
        Assert.True(read.AsSpan(offset + length).IndexOfAnyExcept((byte)1) < 0);
    }

    [Fact]
    public async Task RangesOutsideTheDevice_ThrowBeforeAnyIO()
    {
        await using NullBlock nullb = NullBlock.Create(new NullBlockOptions { IrqMode = IrqMode.None, MemoryBacked = true, Size = 1 << 20 });
        BlockDevice device = nullb.Disk.OpenDevice();
        // Thrown by the call itself, not by the task it would return.
        Assert.Throws<ArgumentOutOfRangeException>(() => { _ = device.ReadBytesAsync((1 << 20) - 10, new byte[11]).AsTask(); });
        Assert.Throws<ArgumentOutOfRangeException>(() => { _ = device.WriteBytesAsync(-1, new byte[1]).AsTask(); });
        Assert.Throws<ArgumentOutOfRangeException>(() => { _ = device.ZeroBytesAsync(1 << 20, 1, mayUnmap: false).AsTask(); });
        ArgumentOutOfRangeException negative = Assert.Throws<ArgumentOutOfRangeException>(() => { _ = device.ZeroBytesAsync(0, -5, mayUnmap: false).AsTask(); });
        Assert.Equal("length", negative.ParamName);
        Assert.Equal(0, nullb.Disk.GetStatistics().ReadIos + nullb.Disk.GetStatistics().WriteIos);
        await device.WriteBytesAsync((1 << 20) - 10, new byte[10], TestContext.Current.CancellationToken);
    }
}
