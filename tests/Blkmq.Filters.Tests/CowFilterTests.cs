using Blkmq.Drivers;

namespace Blkmq.Filters.Tests;

/// <summary>
/// cow over a file of random bytes: every read equals a model (the base with the writes and zeroes laid over it) for
/// reads the overlay covers wholly, partly or not at all, across chunk boundaries, with the memory and the file
/// overlay; the base file never changes; a new memory chunk costs no managed memory.
/// </summary>
[Collection(nameof(ProcessWideMeasurements))]
public sealed class CowFilterTests : IDisposable
{
    private const int BaseSize = 4 << 20;
    private readonly string _directory = Directory.CreateTempSubdirectory("blkmq-cow-test").FullName;
    private readonly string _base;
    private readonly byte[] _baseData = Stacks.Pattern(BaseSize, 7);

    public CowFilterTests()
    {
        _base = Path.Combine(_directory, "base.img");
        File.WriteAllBytes(_base, _baseData);
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Theory]
    [InlineData("cow")]
    [InlineData("cow:file=OVERLAY")]
    public async Task RandomWritesZeroesAndReads_MatchTheModel_BaseUnchanged(string filter)
    {
        byte[] model = (byte[])_baseData.Clone();
        var random = new Random(filter.Length);
        await using (DriverInstance stack = Stacks.Create($"file:path={_base}|{filter.Replace("OVERLAY", Path.Combine(_directory, "overlay.img"), StringComparison.Ordinal)}"))
        {
            BlockDevice device = stack.Disk.OpenDevice();
            int block = stack.Disk.Limits.LogicalBlockSize;

            // Fixed cases first: a write across a 4K and a 64K chunk boundary, a zeroed run inside it, and reads
            // that start before, end after, and lie inside the overlay's blocks.
            await WriteAsync(device, model, (64 << 10) - 3 * block, Stacks.Pattern(8 * block, 1));
            await ZeroAsync(device, model, (64 << 10) - block, 2 * block, discard: true);
            await CheckAsync(device, model, (64 << 10) - 8 * block, 16 * block);
            await CheckAsync(device, model, (64 << 10) - 3 * block, 8 * block);
            await CheckAsync(device, model, (64 << 10) - 2 * block, 2 * block);

            for (int i = 0; i < 400; i++)
            {
                // One IO in eight is large (256 KiB to 1 MiB: many pages of the overlay in one write).
                int blocks = random.Next(8) == 0 ? random.Next(256 << 10, 1 << 20) / block : random.Next(1, 40);
                long offset = (long)random.Next(0, (BaseSize / block) - blocks) * block;
                switch (random.Next(4))
                {
                    case 0:
                        await WriteAsync(device, model, offset, Stacks.Pattern(blocks * block, i));
                        break;
                    case 1:
                        await ZeroAsync(device, model, offset, blocks * block, discard: (i & 1) == 0);
                        break;
                    default:
                        await CheckAsync(device, model, offset, blocks * block);
                        break;
                }
            }

            for (long offset = 0; offset < BaseSize; offset += 1 << 20)
            {
                await CheckAsync(device, model, offset, 1 << 20);
            }
        }

        Assert.Equal(_baseData, File.ReadAllBytes(_base));
    }

    [Theory]
    [InlineData("cow")]
    [InlineData("cow:file=OVERLAY")]
    public async Task ConcurrentLargeAndSmallWrites_AllLand_FuaIncluded(string filter)
    {
        // Eight 512 KiB slots, even ones one large write (every other one FUA), odd ones 128 small writes, all in
        // flight at once (more than the queue depth, so some wait for tags), then one flush and a read of everything.
        byte[] model = (byte[])_baseData.Clone();
        const int Slot = 512 << 10;
        await using DriverInstance stack = Stacks.Create($"file:path={_base}|{filter.Replace("OVERLAY", Path.Combine(_directory, "overlay.img"), StringComparison.Ordinal)}");
        BlockDevice device = stack.Disk.OpenDevice();
        var writes = new List<Task>();
        for (int slot = 0; slot < BaseSize / Slot; slot++)
        {
            int chunk = slot % 2 == 0 ? Slot : 4096;
            for (int at = 0; at < Slot; at += chunk)
            {
                byte[] data = Stacks.Pattern(chunk, (slot * 1000) + at);
                data.CopyTo(model.AsSpan((slot * Slot) + at));
                RequestFlags flags = slot % 4 == 2 ? RequestFlags.Fua : RequestFlags.None;
                writes.Add(device.WriteAsync((slot * Slot) + at, data, flags).AsTask());
            }
        }

        await Task.WhenAll(writes);
        await device.FlushAsync();
        for (long offset = 0; offset < BaseSize; offset += 1 << 20)
        {
            await CheckAsync(device, model, offset, 1 << 20);
        }
    }

    [Fact]
    public async Task MemoryOverlay_Writes_AllocateNoManagedMemory()
    {
        await using DriverInstance stack = Stacks.Create($"file:path={_base}|cow");
        BlockDevice device = stack.Disk.OpenDevice();
        byte[] data = Stacks.Pattern(4096, 3);
        await device.WriteAsync(0, data);
        long before = GC.GetTotalAllocatedBytes(precise: true);
        for (long offset = 64 << 10; offset < BaseSize; offset += 64 << 10)
        {
            // Every write lands on pages of the overlay never written before.
            await device.WriteAsync(offset, data);
        }

        long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        Assert.True(allocated < (64 << 10), $"{allocated} bytes allocated for 63 writes into fresh overlay pages");
        byte[] back = new byte[4096];
        await device.ReadAsync(BaseSize - (64 << 10), back);
        Assert.Equal(data, back);
    }

    [Fact]
    public void CowBlockSize_IsRefused_NamingTheParametersCowTakes()
    {
        // The overlay tracks the disk's logical blocks (a 4 KiB write copies nothing from below), so nbdkit's copy-up
        // unit has nothing to set; the parameter is refused rather than silently ignored.
        FormatException error = Assert.Throws<FormatException>(() => Stacks.Create($"file:path={_base}|cow:cow-block-size=64K"));
        Assert.Contains("unknown parameter 'cow-block-size'", error.Message, StringComparison.Ordinal);
        Assert.Contains("known: file, keep", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OverlayOutOfSpace_WriteFailsWithNoSpace_BlocksKeepWhatTheyHeld()
    {
        // An overlay file on a 256 KiB tmpfs: once it is full a write fails with ENOSPC (not a generic IO error), and
        // the blocks it was to cover still read as before.
        await using ScratchMount mount = await ScratchMount.CreateAsync("tmpfs", "size=256k");
        await using DriverInstance stack = Stacks.Create($"file:path={_base}|cow:file={Path.Combine(mount.Path, "overlay.img")}");
        BlockDevice device = stack.Disk.OpenDevice();
        BlockStatus status = BlockStatus.Ok;
        long offset = 0;
        for (; offset < BaseSize && status == BlockStatus.Ok; offset += 64 << 10)
        {
            status = await device.WriteStatusAsync(offset, Stacks.Pattern(64 << 10, (int)offset));
        }

        Assert.Equal(BlockStatus.NoSpace, status);
        long failed = offset - (64 << 10);
        byte[] back = new byte[64 << 10];
        await device.ReadAsync(failed, back);
        Assert.True(_baseData.AsSpan((int)failed, 64 << 10).SequenceEqual(back), "the failed write's blocks no longer read as the base");
        await device.ReadAsync(0, back);
        Assert.Equal(Stacks.Pattern(64 << 10, 0), back);
    }

    [Fact]
    public async Task BaseMadeWithCreate_IsServedThroughCow_AndStaysZero()
    {
        // cow opens its base read-only, except one the driver is asked to create: that one cannot be read-only.
        string created = Path.Combine(_directory, "created-base.img");
        await using (DriverInstance stack = Stacks.Create($"file:path={created},create=1M|cow"))
        {
            BlockDevice device = stack.Disk.OpenDevice();
            await device.WriteAsync(4096, Enumerable.Repeat((byte)0x5a, 4096).ToArray());
            byte[] read = new byte[8192];
            await device.ReadAsync(0, read);
            Assert.True(read.AsSpan(0, 4096).IndexOfAnyExcept((byte)0) < 0);
            Assert.True(read.AsSpan(4096).IndexOfAnyExcept((byte)0x5a) < 0);
        }

        byte[] baseBytes = await File.ReadAllBytesAsync(created, TestContext.Current.CancellationToken);
        Assert.Equal(1 << 20, baseBytes.Length);
        Assert.True(baseBytes.AsSpan().IndexOfAnyExcept((byte)0) < 0, "cow wrote its base");
    }

    [Fact]
    public async Task OverlayFile_MakesTheFilterDiskBlocking_MemoryOverlayDoesNot()
    {
        // The file overlay is written inside Queue: the block layer must treat that disk as one that may sleep.
        string overlay = _base + ".overlay";
        await using (DriverInstance onFile = Stacks.Create($"file:path={_base}|cow:file={overlay}"))
        {
            Assert.True(onFile.Disk.TagSet.Options.Blocking);
        }

        await using DriverInstance inMemory = Stacks.Create($"file:path={_base}|cow");
        Assert.False(inMemory.Disk.TagSet.Options.Blocking);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task OverlayFile_GoneAtExit_UnlessKept(bool keep)
    {
        string overlay = Path.Combine(_directory, "scratch.overlay");
        byte[] data = Stacks.Pattern(4096, 9);
        await using (DriverInstance stack = Stacks.Create($"file:path={_base}|cow:file={overlay}" + (keep ? ",keep=1" : string.Empty)))
        {
            Assert.True(File.Exists(overlay));
            await stack.Disk.OpenDevice().WriteAsync(8192, data, RequestFlags.Fua);
        }

        Assert.Equal(keep, File.Exists(overlay));
        if (keep)
        {
            // What a kept overlay holds: the written blocks at their offsets.
            using FileStream file = File.OpenRead(overlay);
            byte[] back = new byte[4096];
            file.Position = 8192;
            file.ReadExactly(back);
            Assert.Equal(data, back);
        }

        Assert.Equal(_baseData, File.ReadAllBytes(_base));
    }

    [Theory]
    [InlineData("")]
    [InlineData(",keep=1")]
    public void OverlayFile_ThatExists_IsRefused_LeftAsItWas(string keep)
    {
        // A user's file given as the overlay by mistake: neither emptied at start nor deleted at exit.
        string precious = Path.Combine(_directory, "important.txt");
        File.WriteAllText(precious, "precious\n");
        IOException error = Assert.Throws<IOException>(() => Stacks.Create($"file:path={_base}|cow:file={precious}{keep}"));
        Assert.Equal($"filter 'cow': file={precious} already exists; give the path of a new file (the overlay is created at start and deleted at exit unless keep=1).", error.Message);
        Assert.Equal("precious\n", File.ReadAllText(precious));

        // The disk's own image as the overlay: refused, the image untouched.
        Assert.Throws<IOException>(() => Stacks.Create($"file:path={_base}|cow:file={_base}"));
        Assert.Equal(_baseData, File.ReadAllBytes(_base));
    }

    [Fact]
    public async Task BlockStatus_OverlayDataOverTheBaseHoles_ZeroedBlocksAreHoles()
    {
        // A sparse 16 MiB base: data in its first MiB, a hole after it (as SEEK_HOLE sees it; the file driver calls
        // a run under 4 MiB that starts with data all data, so the hole is longer than that).
        const long size = 16 << 20;
        string sparse = Path.Combine(_directory, "sparse.img");
        using (FileStream file = File.Create(sparse))
        {
            file.Write(_baseData.AsSpan(0, 1 << 20));
            file.SetLength(size);
        }

        await using DriverInstance stack = Stacks.Create($"file:path={sparse}|cow");
        BlockDevice device = stack.Disk.OpenDevice();
        await device.DiscardAsync(256 << 10, 64 << 10);
        await device.WriteAsync(12 << 20, Stacks.Pattern(64 << 10, 5));
        IAllocationSource allocation = stack.Disk.Allocation!;

        // Walk the disk with small and large requests; merge runs of one kind.
        foreach (long step in new long[] { 4096, long.MaxValue })
        {
            var runs = new List<(bool Allocated, long Start, long End)>();
            for (long offset = 0; offset < size;)
            {
                AllocationExtent extent = await allocation.GetExtentAsync(offset, Math.Min(step, size - offset));
                Assert.InRange(extent.Length, 1, size - offset);
                if (runs.Count > 0 && runs[^1].Allocated == extent.Allocated)
                {
                    runs[^1] = runs[^1] with { End = offset + extent.Length };
                }
                else
                {
                    runs.Add((extent.Allocated, offset, offset + extent.Length));
                }

                offset += extent.Length;
            }

            Assert.Equal(
                [(true, 0, 256 << 10), (false, 256 << 10, 320 << 10), (true, 320 << 10, 1 << 20), (false, 1 << 20, 12 << 20), (true, 12 << 20, (12 << 20) + (64 << 10)), (false, (12 << 20) + (64 << 10), size)],
                runs);
        }
    }

    [Theory]
    [InlineData("cow")]
    [InlineData("cow:file=OVERLAY")]
    public async Task WriteZeroes_NoUnmap_IsDataInBlockStatus_MayUnmapIsAHole(string filter)
    {
        // NBD's NO_HOLE: the range must stay provisioned, so the overlay keeps it as data (it once showed as a hole).
        await using DriverInstance stack = Stacks.Create($"memory:size=4M|{filter.Replace("OVERLAY", Path.Combine(_directory, "overlay"), StringComparison.Ordinal)}");
        BlockDevice device = stack.Disk.OpenDevice();
        await device.WriteAsync(0, Stacks.Pattern(256 << 10, 6));
        await device.WriteZeroesAsync(0, 128 << 10, mayUnmap: false);
        await device.WriteZeroesAsync(128 << 10, 128 << 10, mayUnmap: true);
        await device.WriteZeroesAsync(1 << 20, 192 << 10, mayUnmap: false); // over the base, never written
        IAllocationSource allocation = stack.Disk.Allocation!;
        Assert.Equal(new AllocationExtent(true, 128 << 10), await allocation.GetExtentAsync(0, 256 << 10));
        Assert.Equal(new AllocationExtent(false, 128 << 10), await allocation.GetExtentAsync(128 << 10, 128 << 10));
        Assert.Equal(new AllocationExtent(true, 192 << 10), await allocation.GetExtentAsync(1 << 20, 192 << 10));
        byte[] read = new byte[2 << 20];
        await device.ReadAsync(0, read);
        Assert.True(read.AsSpan(0, 256 << 10).IndexOfAnyExcept((byte)0) < 0);
        Assert.True(read.AsSpan(1 << 20, 192 << 10).IndexOfAnyExcept((byte)0) < 0);
    }

    private static async Task WriteAsync(BlockDevice device, byte[] model, long offset, byte[] data)
    {
        await device.WriteAsync(offset, data);
        data.CopyTo(model.AsSpan((int)offset));
    }

    private static async Task ZeroAsync(BlockDevice device, byte[] model, long offset, int length, bool discard)
    {
        if (discard)
        {
            await device.DiscardAsync(offset, length);
        }
        else
        {
            Assert.Equal(BlockStatus.Ok, await device.WriteZeroesStatusAsync(offset, length, mayUnmap: true));
        }

        model.AsSpan((int)offset, length).Clear();
    }

    private static async Task CheckAsync(BlockDevice device, byte[] model, long offset, int length)
    {
        byte[] back = new byte[length];
        await device.ReadAsync(offset, back);
        Assert.True(model.AsSpan((int)offset, length).SequenceEqual(back), $"read of {length} bytes at {offset} differs from the model");
    }
}
