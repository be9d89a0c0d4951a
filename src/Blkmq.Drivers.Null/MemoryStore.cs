namespace Blkmq.Drivers.Null;

/// <summary>
/// The null driver's backing memory (null_blk's <c>memory_backed</c>): 4 KiB pages allocated on first write,
/// found through a two-level table (a directory of 2 MiB chunks, each an array of page references made on
/// demand), so lookups are two array loads without locks and an untouched disk of any size costs only its
/// directory. Reads of pages never written return zeroes; discard drops whole pages and zeroes partial ones.
/// </summary>
/// <remarks>
/// Concurrent IO to different pages never conflicts. Overlapping concurrent writes land in an unspecified
/// order, as on a real device. Pages and chunks are published with compare-and-swap, so two first writes to one
/// page agree on a single page.
/// </remarks>
internal sealed class MemoryStore
{
    public const int PageShift = 12;
    public const int PageSize = 1 << PageShift;
    private const int ChunkShift = 9;
    private const int PagesPerChunk = 1 << ChunkShift;

    private readonly byte[]?[]?[] _directory;
    private long _allocatedPages;

    public MemoryStore(long capacity)
    {
        long pages = (capacity + PageSize - 1) >> PageShift;
        _directory = new byte[]?[]?[(pages + PagesPerChunk - 1) >> ChunkShift];
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
            byte[]? page = GetPage(offset >> PageShift);
            if (page is null)
            {
                destination[..count].Clear();
            }
            else
            {
                page.AsSpan(inPage, count).CopyTo(destination);
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
            source[..count].CopyTo(GetOrAddPage(offset >> PageShift).AsSpan(inPage, count));
            offset += count;
            source = source[count..];
        }
    }

    /// <summary>Makes a range read as zeroes; with <paramref name="deallocate"/>, whole pages are dropped.</summary>
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
            else
            {
                GetPage(pageIndex)?.AsSpan(inPage, count).Clear();
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

        Volatile.Write(ref _allocatedPages, 0);
    }

    private byte[]? GetPage(long pageIndex)
    {
        byte[]?[]? chunk = Volatile.Read(ref _directory[pageIndex >> ChunkShift]);
        return chunk is null ? null : Volatile.Read(ref chunk[pageIndex & (PagesPerChunk - 1)]);
    }

    private byte[] GetOrAddPage(long pageIndex)
    {
        ref byte[]?[]? chunkRef = ref _directory[pageIndex >> ChunkShift];
        byte[]?[]? chunk = Volatile.Read(ref chunkRef);
        if (chunk is null)
        {
            chunk = Interlocked.CompareExchange(ref chunkRef, new byte[]?[PagesPerChunk], null) ?? Volatile.Read(ref chunkRef)!;
        }

        ref byte[]? pageRef = ref chunk[pageIndex & (PagesPerChunk - 1)];
        byte[]? page = Volatile.Read(ref pageRef);
        if (page is not null)
        {
            return page;
        }

        // Pinned: the pinned heap never moves its objects, so a disk filling up is not copied from generation to
        // generation by the garbage collector (that copying cost more than the writes themselves).
        byte[] fresh = GC.AllocateArray<byte>(PageSize, pinned: true);
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
        byte[]?[]? chunk = Volatile.Read(ref _directory[pageIndex >> ChunkShift]);
        if (chunk is not null && Interlocked.Exchange(ref chunk[pageIndex & (PagesPerChunk - 1)], null) is not null)
        {
            Interlocked.Decrement(ref _allocatedPages);
        }
    }
}
