using Blkmq.Drivers.Null;

namespace Blkmq.Tests;

public sealed class StreamAdapterTests
{
    [Fact]
    public async Task UnalignedWritesAndReads_MatchAByteArrayModel()
    {
        await using NullBlock nullb = NullBlock.Create(new NullBlockOptions { IrqMode = IrqMode.SoftIrq, MemoryBacked = true, Size = 64 << 10, BlockSize = 4096 });
        await using Stream stream = nullb.Disk.OpenDevice().AsStream();
        byte[] model = new byte[64 << 10];
        var random = new Random(42);
        for (int i = 0; i < 200; i++)
        {
            int offset = random.Next(model.Length - 1);
            int length = random.Next(1, Math.Min(9000, model.Length - offset));
            if (random.Next(2) == 0)
            {
                byte[] data = new byte[length];
                random.NextBytes(data);
                stream.Position = offset;
                await stream.WriteAsync(data);
                data.CopyTo(model, offset);
                Assert.Equal(offset + length, stream.Position);
            }
            else
            {
                byte[] back = new byte[length];
                stream.Seek(offset, SeekOrigin.Begin);
                Assert.Equal(length, await stream.ReadAsync(back));
                Assert.Equal(model.AsSpan(offset, length).ToArray(), back);
            }
        }

        byte[] image = new byte[model.Length];
        stream.Position = 0;
        await stream.ReadExactlyAsync(image);
        Assert.Equal(model, image);
    }

    [Fact]
    public async Task ConcurrentUnalignedWritesToOneBlock_LoseNothing()
    {
        await using NullBlock nullb = NullBlock.Create(new NullBlockOptions { IrqMode = IrqMode.SoftIrq, MemoryBacked = true, Size = 64 << 10, BlockSize = 4096 });
        BlockDevice device = nullb.Disk.OpenDevice();

        // 64 writers each patch their own byte of the same 4 KiB block through their own stream.
        await Task.WhenAll(Enumerable.Range(0, 64).Select(i => Task.Run(async () =>
        {
            await using Stream stream = device.AsStream();
            stream.Position = 100 + i;
            await stream.WriteAsync(new[] { (byte)(i + 1) });
        })));

        byte[] block = new byte[4096];
        await device.ReadAsync(0, block);
        for (int i = 0; i < 64; i++)
        {
            Assert.Equal(i + 1, block[100 + i]);
        }
    }

    [Fact]
    public async Task ReadPastEnd_ReturnsShortCount_WritePastEndThrows()
    {
        await using NullBlock nullb = NullBlock.Create(new NullBlockOptions { IrqMode = IrqMode.None, MemoryBacked = true, Size = 8192 });
        await using Stream stream = nullb.Disk.OpenDevice().AsStream();
        Assert.True(stream.CanSeek);
        Assert.Equal(8192, stream.Length);
        stream.Position = 8000;
        Assert.Equal(192, await stream.ReadAsync(new byte[1000]));
        Assert.Equal(0, await stream.ReadAsync(new byte[10]));
        stream.Position = 8000;
        await Assert.ThrowsAsync<IOException>(async () => await stream.WriteAsync(new byte[1000]));
        Assert.Throws<NotSupportedException>(() => stream.SetLength(10));
    }
}
