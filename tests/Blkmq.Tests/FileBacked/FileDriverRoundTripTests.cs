using Blkmq.Drivers.File;

namespace Blkmq.Tests.FileBacked;

/// <summary>
/// The file driver moves real bytes, on both engines: random data at random offsets, concurrently, reads back and
/// is in the file itself; flush and FUA succeed; buffered (the default: writes inline or by the engine) and with
/// O_DIRECT, where unaligned buffers take the buffered descriptor and aligned ones the direct one.
/// </summary>
public sealed class FileDriverRoundTripTests
{
    public static TheoryData<FileEngine> Engines => new() { FileEngine.Threads, FileEngine.IoUring };

    public static TheoryData<FileEngine, string> EnginesAndCaching => new()
    {
        { FileEngine.Threads, string.Empty },
        { FileEngine.IoUring, string.Empty },
        { FileEngine.Threads, ",direct=on" },
        { FileEngine.IoUring, ",direct=on" },
        { FileEngine.IoUring, ",writes=engine" },
    };

    [Theory]
    [MemberData(nameof(EnginesAndCaching))]
    public async Task RandomWrites_Concurrent_ReadBackAndMatchTheFile(FileEngine engine, string extra)
    {
        const int Size = 16 << 20;
        const int Chunk = 64 << 10;
        await using FileScope scope = FileScope.Create(engine, Size, extra);
        Assert.Equal(extra == ",direct=on", scope.Block!.File.Direct);
        Assert.Equal(engine, scope.Block!.Engine);
        byte[] model = new byte[Size];
        var random = new Random(1234 + (int)engine);
        BlockDevice device = scope.Disk.OpenDevice();
        for (int round = 0; round < 4; round++)
        {
            var writes = new List<Task>();
            for (int chunk = 0; chunk < Size / Chunk; chunk += 1 + random.Next(3))
            {
                int length = 512 * random.Next(1, (Chunk / 512) + 1);
                int offset = (chunk * Chunk) + (512 * random.Next(0, ((Chunk - length) / 512) + 1));
                // Every other buffer starts at an odd address: no O_DIRECT for it, the buffered descriptor instead.
                int skew = random.Next(2);
                byte[] buffer = new byte[length + skew];
                random.NextBytes(buffer);
                ReadOnlyMemory<byte> data = buffer.AsMemory(skew, length);
                buffer.AsSpan(skew, length).CopyTo(model.AsSpan(offset));
                writes.Add(device.WriteAsync(offset, data, random.Next(4) == 0 ? RequestFlags.Fua : RequestFlags.None).AsTask());
            }

            await Task.WhenAll(writes);
        }

        await device.FlushAsync();
        byte[] read = new byte[Size];
        for (int offset = 0; offset < Size; offset += 1 << 20)
        {
            await device.ReadAsync(offset, read.AsMemory(offset, 1 << 20));
        }

        Assert.True(model.AsSpan().SequenceEqual(read), "the disk reads back what was written");
        await scope.CloseAsync();
        byte[] file = await System.IO.File.ReadAllBytesAsync(scope.ImagePath);
        Assert.True(model.AsSpan().SequenceEqual(file), "the file holds what was written");
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public async Task ExistingFile_ServedAsIs_SizeAndBytesFromTheFile(FileEngine engine)
    {
        await using FileScope scope = FileScope.CreateDirectory();
        byte[] content = new byte[(3 << 20) + 1000];
        new Random(5).NextBytes(content);
        await System.IO.File.WriteAllBytesAsync(scope.ImagePath, content);
        FileBlock block = scope.Open(FileDriverOptions.Parse($"path={scope.ImagePath},engine={FileDriverOptions.FormatEngine(engine)}"));

        // The last 488 bytes are no whole block: not served.
        const int Capacity = (3 << 20) + 512;
        Assert.Equal(Capacity, block.Disk.Capacity);
        byte[] read = new byte[Capacity];
        await block.Disk.OpenDevice().ReadAsync(0, read);
        Assert.True(content.AsSpan(0, Capacity).SequenceEqual(read));
    }

    [Theory]
    [MemberData(nameof(Engines))]
    public async Task FlushAndFua_Succeed(FileEngine engine)
    {
        await using FileScope scope = FileScope.Create(engine);
        BlockDevice device = scope.Disk.OpenDevice();
        Assert.True(scope.Disk.HasWriteCache);
        Assert.True(scope.Disk.SupportsFua);
        byte[] data = new byte[4096];
        new Random(3).NextBytes(data);
        Assert.Equal(BlockStatus.Ok, await device.WriteStatusAsync(8192, data, RequestFlags.Fua));
        Assert.Equal(BlockStatus.Ok, await device.FlushStatusAsync());
        await scope.CloseAsync();
        byte[] file = await System.IO.File.ReadAllBytesAsync(scope.ImagePath);
        Assert.True(data.AsSpan().SequenceEqual(file.AsSpan(8192, 4096)));
    }
}
