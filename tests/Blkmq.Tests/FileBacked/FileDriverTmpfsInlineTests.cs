using Blkmq.Drivers.File;

namespace Blkmq.Tests.FileBacked;

/// <summary>
/// On tmpfs the file driver reads and writes inside <c>QueueRq</c> (its pages are memory: nothing to wait for), so a
/// one-segment read or write, FUA included, has ended before the call that submitted it returns; the bytes are in the
/// file; a request of several segments still goes through the engine and lands just the same. On a disk's file system
/// a buffered write is done inline too (a copy into the page cache) but not a FUA one, which waits for the device;
/// nor any write with <c>writes=engine</c> or through <c>O_DIRECT</c>.
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

    [Theory]
    [MemberData(nameof(FileDriverRoundTripTests.Engines), MemberType = typeof(FileDriverRoundTripTests))]
    public async Task OnADisk_BufferedWritesAndCachedReadsAreInline_FuaWritesGoToTheEngine(FileEngine engine)
    {
        await using FileScope scope = FileScope.Create(engine, 1 << 20, parent: FileScope.OnDisk);
        Assert.False(scope.Block!.File.InMemory, $"{FileScope.OnDisk} is not tmpfs");
        Assert.False(scope.Block.File.Direct, "buffered by default");

        // The queues count what QueueRq serves itself: every plain write (a copy into the page cache), no FUA write
        // (RWF_DSYNC waits for the device), and a read of what the writes left in the page cache, unless the file
        // system refuses RWF_NOWAIT reads (some overlay file systems do; the disk then stops trying them).
        BlockDevice device = scope.Disk.OpenDevice();
        byte[] model = new byte[40 * Block];
        new Random(7).NextBytes(model);
        for (int i = 0; i < 40; i++)
        {
            await device.WriteAsync(i * (long)Block, model.AsMemory(i * Block, Block), i < 32 ? RequestFlags.None : RequestFlags.Fua);
        }

        Assert.Equal(32, InlineTransfers(scope));
        byte[] read = new byte[Block];
        await device.ReadAsync(Block, read);
        Assert.Equal(scope.Block.File.TriesCachedReads ? 33 : 32, InlineTransfers(scope));
        Assert.True(model.AsSpan(Block, Block).SequenceEqual(read), "block 1 reads back");

        await device.FlushAsync();
        await scope.CloseAsync();
        byte[] file = await System.IO.File.ReadAllBytesAsync(scope.ImagePath, TestContext.Current.CancellationToken);
        Assert.True(model.AsSpan().SequenceEqual(file.AsSpan(0, model.Length)), "the file holds every write, inline or not");
    }

    [Theory]
    [InlineData(",writes=engine")]
    [InlineData(",direct=on")]
    public async Task OnADisk_WritesEngineOrODirect_NoWriteIsInline(string extra)
    {
        await using FileScope scope = FileScope.Create(FileEngine.IoUring, 1 << 20, extra, FileScope.OnDisk);
        Assert.Equal(extra == ",direct=on", scope.Block!.File.Direct);

        // O_DIRECT serves aligned buffers only: a pinned array, sliced at a 4 KiB boundary.
        byte[] pinned = GC.AllocateArray<byte>(Block * 3, pinned: true);
        int skew = (int)((Block - (System.Runtime.InteropServices.Marshal.UnsafeAddrOfPinnedArrayElement(pinned, 0) & (Block - 1))) & (Block - 1));
        Memory<byte> data = pinned.AsMemory(skew, Block);
        data.Span.Fill(0x6b);
        BlockDevice device = scope.Disk.OpenDevice();
        for (int i = 0; i < 16; i++)
        {
            await device.WriteAsync(i * (long)Block, data);
        }

        Assert.Equal(0, InlineTransfers(scope));
        await scope.CloseAsync();
        byte[] file = await System.IO.File.ReadAllBytesAsync(scope.ImagePath, TestContext.Current.CancellationToken);
        Assert.True(file.AsSpan(0, 16 * Block).IndexOfAnyExcept((byte)0x6b) < 0, "every write landed");
    }

    private static long InlineTransfers(FileScope scope) =>
        scope.Block!.File.HwQueues.Sum(queue => queue?.InlineTransfers ?? 0);
}
