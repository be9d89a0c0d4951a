using Blkmq.Drivers.Null;

namespace Blkmq.Tests.NullBlk;

/// <summary>The memory store carves pages from slabs: every page keeps its own data across many slabs and discards.</summary>
public sealed class MemoryStoreTests
{
    [Fact]
    public void Zero_WithoutDeallocate_ProvisionsEveryPage_WithDeallocate_DropsWholePages()
    {
        var store = new MemoryStore(1L << 20);
        store.Write(MemoryStore.PageSize, new byte[MemoryStore.PageSize].Select(static _ => (byte)0x5A).ToArray());

        // Never-written pages and a partial one: all allocated afterwards, all reading zero.
        store.Zero(512, 4 * MemoryStore.PageSize, deallocate: false);
        Assert.Equal(5L * MemoryStore.PageSize, store.AllocatedBytes);
        byte[] read = new byte[5 * MemoryStore.PageSize];
        store.Read(0, read);
        Assert.True(read.AsSpan(512, 4 * MemoryStore.PageSize).IndexOfAnyExcept((byte)0) < 0);

        // Deallocating drops the whole pages only; the partial ones at both ends stay allocated, zeroed.
        store.Zero(512, 4 * MemoryStore.PageSize, deallocate: true);
        Assert.True(store.IsAllocated(0));
        Assert.False(store.IsAllocated(MemoryStore.PageSize));
        Assert.False(store.IsAllocated(3 * MemoryStore.PageSize));
        Assert.True(store.IsAllocated(4 * MemoryStore.PageSize));
    }

    [Fact]
    public void ThousandsOfPagesAcrossSlabs_KeepTheirOwnData_ThroughDiscardAndRewrite()
    {
        // 64 MiB of disk, 6000 pages written in a scattered order: more than the first slabs (256 KiB, doubling)
        // and several 8 MiB hugepage-advised ones.
        var store = new MemoryStore(64L << 20);
        const int Pages = 6000;
        int[] order = [.. Enumerable.Range(0, Pages).Select(static i => (int)((i * 7919L) % 16384))];
        byte[] page = new byte[MemoryStore.PageSize];
        foreach (int index in order)
        {
            Fill(page, index);
            store.Write((long)index * MemoryStore.PageSize, page);
        }

        Assert.Equal((long)Pages * MemoryStore.PageSize, store.AllocatedBytes);
        byte[] read = new byte[MemoryStore.PageSize];
        foreach (int index in order)
        {
            store.Read((long)index * MemoryStore.PageSize, read);
            Fill(page, index);
            Assert.True(read.AsSpan().SequenceEqual(page), $"page {index}");
        }

        // Drop every other written page, then write 512 bytes into each dropped one: the rest of it must read zero.
        for (int i = 0; i < order.Length; i += 2)
        {
            store.Zero((long)order[i] * MemoryStore.PageSize, MemoryStore.PageSize, deallocate: true);
        }

        Assert.Equal((long)(Pages / 2) * MemoryStore.PageSize, store.AllocatedBytes);
        for (int i = 0; i < order.Length; i += 2)
        {
            long offset = (long)order[i] * MemoryStore.PageSize;
            Assert.False(store.IsAllocated(offset));
            store.Write(offset + 1024, new byte[512].Select(static _ => (byte)0xAB).ToArray());
        }

        for (int i = 0; i < order.Length; i++)
        {
            int index = order[i];
            store.Read((long)index * MemoryStore.PageSize, read);
            if (i % 2 == 0)
            {
                Assert.True(read.AsSpan(0, 1024).IndexOfAnyExcept((byte)0) < 0, $"page {index} head");
                Assert.True(read.AsSpan(1024, 512).IndexOfAnyExcept((byte)0xAB) < 0, $"page {index} rewritten part");
                Assert.True(read.AsSpan(1536).IndexOfAnyExcept((byte)0) < 0, $"page {index} tail");
            }
            else
            {
                Fill(page, index);
                Assert.True(read.AsSpan().SequenceEqual(page), $"page {index}");
            }
        }
    }

    [Fact]
    public void PowerCut_DropsEveryPage_AndTheStoreFillsAgain()
    {
        var store = new MemoryStore(16L << 20);
        byte[] data = new byte[3 << 20];
        Array.Fill(data, (byte)5);
        store.Write(4096, data);
        store.Clear();
        Assert.Equal(0, store.AllocatedBytes);
        byte[] read = new byte[data.Length];
        store.Read(4096, read);
        Assert.True(read.AsSpan().IndexOfAnyExcept((byte)0) < 0);
        store.Write(8192, data);
        store.Read(8192, read);
        Assert.True(read.AsSpan().SequenceEqual(data));
    }

    private static void Fill(byte[] page, int index)
    {
        for (int i = 0; i < page.Length; i++)
        {
            page[i] = (byte)((index * 31) + (i >> 4));
        }
    }
}
