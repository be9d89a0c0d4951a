using Blkmq.Drivers.File;

namespace Blkmq.Tests.FileBacked;

/// <summary>
/// On tmpfs the file driver reads and writes inside <c>QueueRq</c> (its pages are memory: nothing to wait for), so a
/// one-segment read or write, FUA included, has ended before the call that submitted it returns; the bytes are in the
/// file; a request of several segments still goes through the engine and lands just the same; and on a disk
/// directory a write is never done inline (there it would wait for the device).
/// </summary>
public sealed class FileDriverTmpfsInlineTests
{
    private const int Block = 4096;

    [Theory]
    [MemberData(nameof(FileDriverRoundTripTests.Engines), MemberType = typeof(FileDriverRoundTripTests))]
    public async Task OnTmpfs_OneSegmentReadsAndWrites_EndInsideTheSubmission(FileEngine engine)
    {
        await using FileScope scope = FileScope.Create(engine, 1 << 20, parent: FileScope.InMemory);
        Assert.True(scope.Block!.File.InMemory, "/dev/shm is tmpfs");
        BlockDevice device = scope.Disk.OpenDevice();
        byte[] model = new byte[64 * Block];
        new Random(5).NextBytes(model);

        for (int i = 0; i < 64; i++)
        {
            RequestFlags flags = i % 4 == 0 ? RequestFlags.Fua : RequestFlags.None;
            ValueTask write = device.WriteAsync(i * (long)Block, model.AsMemory(i * Block, Block), flags);
            Assert.True(write.IsCompletedSuccessfully, $"write {i} ended inside QueueRq");
            await write;
        }

        byte[] read = new byte[Block];
        for (int i = 0; i < 64; i += 5)
        {
            ValueTask pending = device.ReadAsync(i * (long)Block, read);
            Assert.True(pending.IsCompletedSuccessfully, $"read {i} ended inside QueueRq");
            await pending;
            Assert.True(model.AsSpan(i * Block, Block).SequenceEqual(read), $"block {i} reads back");
        }

        Assert.Equal(64 + 13, InlineTransfers(scope));
        await scope.CloseAsync();
        byte[] file = await System.IO.File.ReadAllBytesAsync(scope.ImagePath, TestContext.Current.CancellationToken);
        Assert.True(model.AsSpan().SequenceEqual(file.AsSpan(0, model.Length)), "the file holds what was written");
    }

    [Theory]
    [MemberData(nameof(FileDriverRoundTripTests.Engines), MemberType = typeof(FileDriverRoundTripTests))]
    public async Task OnTmpfs_ASegmentedWrite_GoesThroughTheEngine_AndLands(FileEngine engine)
    {
        await using FileScope scope = FileScope.Create(engine, 1 << 20, parent: FileScope.InMemory);
        BlockDevice device = scope.Disk.OpenDevice();
        byte[][] parts = [new byte[Block], new byte[2 * Block], new byte[Block]];
        for (int i = 0; i < parts.Length; i++)
        {
            parts[i].AsSpan().Fill((byte)(0x31 + i));
        }

        // Adjacent writes of one batch merge into one request of three segments.
        var batch = new BlockBatch(device);
        long offset = 8 * Block;
        foreach (byte[] part in parts)
        {
            batch.Write(offset, part);
            offset += part.Length;
        }

        await batch.SubmitAsync();
        Assert.Equal(1, batch.RequestCount);
        Assert.Equal(0, InlineTransfers(scope));
        await scope.CloseAsync();

        byte[] file = await System.IO.File.ReadAllBytesAsync(scope.ImagePath, TestContext.Current.CancellationToken);
        byte[] expected = [.. parts.SelectMany(part => part)];
        Assert.True(expected.AsSpan().SequenceEqual(file.AsSpan(8 * Block, expected.Length)), "the segments landed in order");
    }

    [Fact]
    public async Task OnADisk_WritesAreNotDoneInline_CachedReadsAre()
    {
        await using FileScope scope = FileScope.Create(FileEngine.Threads, 1 << 20, ",direct=off", FileScope.OnDisk);
        Assert.False(scope.Block!.File.InMemory, $"{FileScope.OnDisk} is not tmpfs");

        // The queue counts what QueueRq serves itself: no write (there it would wait for the device), but a read of
        // what those writes left in the page cache (which shows the count is kept at all), unless the file system
        // refuses RWF_NOWAIT reads (some overlay file systems do; the disk then stops trying them).
        BlockDevice device = scope.Disk.OpenDevice();
        byte[] data = new byte[Block];
        for (int i = 0; i < 32; i++)
        {
            await device.WriteAsync(i * (long)Block, data);
        }

        Assert.Equal(0, InlineTransfers(scope));
        await device.ReadAsync(0, data);
        Assert.Equal(scope.Block.File.TriesCachedReads ? 1 : 0, InlineTransfers(scope));
    }

    private static long InlineTransfers(FileScope scope) =>
        scope.Block!.File.HwQueues.Sum(queue => queue?.InlineTransfers ?? 0);
}
