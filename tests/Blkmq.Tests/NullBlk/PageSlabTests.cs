using System.Runtime.CompilerServices;
using Blkmq.Drivers.Null;

namespace Blkmq.Tests.NullBlk;

/// <summary>A page slab is zeroed native memory, writable to its last byte, and released once unreachable.</summary>
public sealed class PageSlabTests
{
    [Fact]
    public unsafe void NewSlab_IsZeroed_AndWritableToItsLastByte()
    {
        const int Length = 2 << 20;
        using var slab = new PageSlab(Length);
        var bytes = new Span<byte>(slab.Address, Length);
        Assert.True(bytes.IndexOfAnyExcept((byte)0) < 0);
        bytes.Fill(0xA5);
        Assert.Equal(0xA5, bytes[^1]);
        Assert.True(bytes.IndexOfAnyExcept((byte)0xA5) < 0);
    }

    [Fact]
    public void UnreachableSlab_IsReleasedByTheCollector()
    {
        WeakReference slab = MakeUnreachableSlab();
        for (int i = 0; i < 10 && slab.IsAlive; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }

        Assert.False(slab.IsAlive);
    }

    [Fact]
    public void StoreWhosePagesWereAllDiscarded_StillReadsZeroes_AfterItsSlabsAreCollected()
    {
        var store = new MemoryStore(32L << 20);
        byte[] data = new byte[16 << 20];
        Array.Fill(data, (byte)7);
        store.Write(0, data);
        store.Zero(0, data.Length, deallocate: true);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        byte[] read = new byte[data.Length];
        store.Read(0, read);
        Assert.True(read.AsSpan().IndexOfAnyExcept((byte)0) < 0);
        store.Write(4096, data.AsSpan(0, 8192));
        store.Read(4096, read.AsSpan(0, 8192));
        Assert.True(read.AsSpan(0, 8192).SequenceEqual(data.AsSpan(0, 8192)));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference MakeUnreachableSlab() => new(new PageSlab(1 << 20));
}
