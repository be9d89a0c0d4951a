using Blkmq.Drivers.Null.Interop;

namespace Blkmq.Drivers.Null;

/// <summary>
/// The null driver's backing memory (null_blk's <c>memory_backed</c>): 4 KiB pages allocated on first write,
/// found through a two-level table (a directory of 2 MiB chunks, each an array of page references made on
/// demand), so lookups are two array loads without locks and an untouched disk of any size costs only its
/// directory. Reads of pages never written return zeroes; discard drops whole pages and zeroes partial ones.
/// </summary>
/// <remarks>
/// <para>
/// Concurrent IO to different pages never conflicts. Overlapping concurrent writes land in an unspecified
/// order, as on a real device. Pages and chunks are published with compare-and-swap, so two first writes to one
/// page agree on a single page.
/// </para>
/// <para>
/// Pages are carved from slabs (zeroed native mappings of up to 8 MiB) instead of being allocated one by
/// one, so filling a disk costs one mapping per slab and the garbage collector never sees page data. A
/// dropped page's memory is never handed to another page, so a read racing with a discard can only see that
/// page's own data or zeroes; a slab is unmapped when none of its pages is referenced any more.
/// </para>
/// </remarks>
internal sealed class MemoryStore
{
    public const int PageShift = 12;
    public const int PageSize = 1 << PageShift;
    private const int ChunkShift = 9;
    private const int PagesPerChunk = 1 << ChunkShift;

    private readonly Page?[]?[] _directory;
    private readonly PageSlabs _slabs = new();
    private long _allocatedPages;

    public MemoryStore(long capacity)
    {
        long pages = (capacity + PageSize - 1) >> PageShift;
        _directory = new Page?[]?[(pages + PagesPerChunk - 1) >> ChunkShift];
    }

    /// <summary>Gets how many bytes of pages are allocated.</summary>
    public long AllocatedBytes => Volatile.Read(ref _allocatedPages) << PageShift;

    /// <summary>Copies the data at byte <paramref name="offset"/> into <paramref name="destination"/>.</summary>
    public void Read(long offset, Span<byte> destination)
    {
        while (!destination.IsEmpty)
        {
            int inPage = (int)(offset & (PageSize - 1));
            int count = Math.Min(PageSize - inPage, destination.Length);
            Page? page = GetPage(offset >> PageShift);
            if (page is null)
            {
                destination[..count].Clear();
            }
            else
            {
                page.CopyTo(inPage, destination[..count]);
            }

            offset += count;
            destination = destination[count..];
        }
    }

    /// <summary>Copies <paramref name="source"/> to byte <paramref name="offset"/>, allocating pages as needed.</summary>
    public void Write(long offset, ReadOnlySpan<byte> source)
    {
        while (!source.IsEmpty)
        {
            int inPage = (int)(offset & (PageSize - 1));
            int count = Math.Min(PageSize - inPage, source.Length);
            GetOrAddPage(offset >> PageShift).CopyFrom(inPage, source[..count]);
            offset += count;
            source = source[count..];
        }
    }

    /// <summary>
    /// Makes a range read as zeroes. With <paramref name="deallocate"/>, whole pages are dropped; without it (Linux's
    /// <c>REQ_NOUNMAP</c>, NBD's <c>NO_HOLE</c>) the range ends fully provisioned: missing pages are allocated.
    /// </summary>
    public void Zero(long offset, long length, bool deallocate)
    {
        long end = offset + length;
        while (offset < end)
        {
            int inPage = (int)(offset & (PageSize - 1));
            int count = (int)Math.Min(PageSize - inPage, end - offset);
            long pageIndex = offset >> PageShift;
            if (deallocate && count == PageSize)
            {
                RemovePage(pageIndex);
            }
            else if (deallocate)
            {
                GetPage(pageIndex)?.Clear(inPage, count);
            }
            else
            {
                GetOrAddPage(pageIndex).Clear(inPage, count);
            }

            offset += count;
        }
    }

    /// <summary>Whether the page holding byte <paramref name="offset"/> is allocated.</summary>
    public bool IsAllocated(long offset) => GetPage(offset >> PageShift) is not null;

    /// <summary>Describes the run of allocated or unallocated pages from <paramref name="offset"/>, up to <paramref name="maxLength"/> bytes.</summary>
    public bool GetExtent(long offset, long maxLength, out long length)
    {
        bool allocated = IsAllocated(offset);
        long end = offset + maxLength;
        long next = (offset | (PageSize - 1)) + 1;
        while (next < end && IsAllocated(next) == allocated)
        {
            next += PageSize;
        }

        length = Math.Min(next, end) - offset;
        return allocated;
    }

    /// <summary>Drops every page (a power cut of a device without persistence).</summary>
    public void Clear()
    {
        for (int i = 0; i < _directory.Length; i++)
        {
            Volatile.Write(ref _directory[i], null);
        }

        // The dropped pages' slabs return to the runtime once no IO holds one of their pages.

        Volatile.Write(ref _allocatedPages, 0);
    }

    private Page? GetPage(long pageIndex)
    {
        Page?[]? chunk = Volatile.Read(ref _directory[pageIndex >> ChunkShift]);
        return chunk is null ? null : Volatile.Read(ref chunk[pageIndex & (PagesPerChunk - 1)]);
    }

    private Page GetOrAddPage(long pageIndex)
    {
        ref Page?[]? chunkRef = ref _directory[pageIndex >> ChunkShift];
        Page?[]? chunk = Volatile.Read(ref chunkRef);
        if (chunk is null)
        {
            chunk = Interlocked.CompareExchange(ref chunkRef, new Page?[PagesPerChunk], null) ?? Volatile.Read(ref chunkRef)!;
        }

        ref Page? pageRef = ref chunk[pageIndex & (PagesPerChunk - 1)];
        Page? page = Volatile.Read(ref pageRef);
        if (page is not null)
        {
            return page;
        }

        // Two first writes to one page may both carve one; the loser's stays unused in its slab.
        Page fresh = _slabs.Allocate();
        page = Interlocked.CompareExchange(ref pageRef, fresh, null);
        if (page is not null)
        {
            return page;
        }

        Interlocked.Increment(ref _allocatedPages);
        return fresh;
    }

    private void RemovePage(long pageIndex)
    {
        Page?[]? chunk = Volatile.Read(ref _directory[pageIndex >> ChunkShift]);
        if (chunk is not null && Interlocked.Exchange(ref chunk[pageIndex & (PagesPerChunk - 1)], null) is not null)
        {
            Interlocked.Decrement(ref _allocatedPages);
        }
    }

    /// <summary>One 4 KiB page: a slice of a slab, which stays mapped while the page is reachable.</summary>
    private sealed unsafe class Page(PageSlab slab, int offset)
    {
        public void CopyTo(int inPage, Span<byte> destination)
        {
            new ReadOnlySpan<byte>(slab.Address + offset + inPage, destination.Length).CopyTo(destination);

            // The copy goes through a raw pointer: this page, which keeps its slab mapped, must stay reachable
            // until it ends, even if a racing discard just dropped it from the table.
            GC.KeepAlive(this);
        }

        public void CopyFrom(int inPage, ReadOnlySpan<byte> source)
        {
            source.CopyTo(new Span<byte>(slab.Address + offset + inPage, source.Length));
            GC.KeepAlive(this);
        }

        public void Clear(int inPage, int count)
        {
            new Span<byte>(slab.Address + offset + inPage, count).Clear();
            GC.KeepAlive(this);
        }
    }

    /// <summary>
    /// Carves pages from slabs that double from 256 KiB to 8 MiB, so a small disk stays small and a large one is
    /// filled with few allocations and no per-page zeroing of our own (see <see cref="PageSlab"/>).
    /// </summary>
#pragma warning disable CA1001 // Slabs are shared by pages that racing IO may still hold: the collector frees them, never a Dispose.
    private sealed class PageSlabs
#pragma warning restore CA1001
    {
        private const int FirstSlabPages = 64;
        private const int LastSlabPages = 2048;

        private readonly Lock _lock = new();
        private PageSlab? _slab;
        private int _next;
        private int _pages;
        private int _nextSlabPages = FirstSlabPages;

        public Page Allocate()
        {
            lock (_lock)
            {
                if (_next == _pages)
                {
                    int pages = _nextSlabPages;
                    _nextSlabPages = Math.Min(pages * 2, LastSlabPages);
                    _slab = new PageSlab(pages * PageSize);
                    _next = 0;
                    _pages = pages;
                }

                return new Page(_slab!, _next++ * PageSize);
            }
        }
    }
}
