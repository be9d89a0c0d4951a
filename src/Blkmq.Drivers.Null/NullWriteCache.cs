namespace Blkmq.Drivers.Null;

/// <summary>
/// null_blk's <c>cache_size</c>: a volatile write-back cache of whole 4 KiB pages in front of the backing
/// <see cref="MemoryStore"/>. Writes land in the cache (a page is first filled from the store, so it is always
/// complete); reads see the cache first; a flush writes every cached page back; a FUA write goes to the store
/// too; when the cache is full the oldest page is written back to make room. <see cref="Drop"/> (a power cut)
/// loses what was not written back.
/// </summary>
/// <remarks>One lock per disk: the cache is a feature path, never the plain null driver's hot path.</remarks>
internal sealed class NullWriteCache
{
    private const int PageSize = MemoryStore.PageSize;
    private const int PageShift = MemoryStore.PageShift;

    private readonly Lock _lock = new();
    private readonly MemoryStore _store;
    private readonly Dictionary<long, byte[]> _pages = [];
    private readonly Queue<long> _order = new();
    private readonly Stack<byte[]> _spare = new();
    private readonly int _capacityPages;
    private int _cachedPages;

    public NullWriteCache(MemoryStore store, long capacity)
    {
        _store = store;
        _capacityPages = (int)Math.Clamp(capacity >> PageShift, 1, int.MaxValue);
    }

    /// <summary>Gets how many bytes of data are in the cache, not yet written back.</summary>
    public long CachedBytes => (long)Volatile.Read(ref _cachedPages) << PageShift;

    public bool Contains(long offset)
    {
        lock (_lock)
        {
            return _pages.ContainsKey(offset >> PageShift);
        }
    }

    public void Read(long offset, Span<byte> destination)
    {
        lock (_lock)
        {
            while (!destination.IsEmpty)
            {
                int inPage = (int)(offset & (PageSize - 1));
                int count = Math.Min(PageSize - inPage, destination.Length);
                if (_pages.TryGetValue(offset >> PageShift, out byte[]? page))
                {
                    page.AsSpan(inPage, count).CopyTo(destination);
                }
                else
                {
                    _store.Read(offset, destination[..count]);
                }

                offset += count;
                destination = destination[count..];
            }
        }
    }

    /// <summary>Writes into the cache; with <paramref name="fua"/> the data also goes to the store before this returns.</summary>
    public void Write(long offset, ReadOnlySpan<byte> source, bool fua)
    {
        lock (_lock)
        {
            while (!source.IsEmpty)
            {
                int inPage = (int)(offset & (PageSize - 1));
                int count = Math.Min(PageSize - inPage, source.Length);
                long index = offset >> PageShift;
                if (fua)
                {
                    // Durable now; a cached copy of the page stays coherent with it.
                    _store.Write(offset, source[..count]);
                    if (_pages.TryGetValue(index, out byte[]? cached))
                    {
                        source[..count].CopyTo(cached.AsSpan(inPage));
                    }
                }
                else
                {
                    source[..count].CopyTo(GetOrLoadPage(index).AsSpan(inPage));
                }

                offset += count;
                source = source[count..];
            }
        }
    }

    /// <summary>Zeroes a range in the store and in the cache (discard, write-zeroes, zone reset).</summary>
    public void Zero(long offset, long length, bool deallocate)
    {
        lock (_lock)
        {
            _store.Zero(offset, length, deallocate);
            if (_pages.Count == 0)
            {
                return;
            }

            long end = offset + length;
            for (long position = offset; position < end;)
            {
                int inPage = (int)(position & (PageSize - 1));
                int count = (int)Math.Min(PageSize - inPage, end - position);
                long index = position >> PageShift;
                if (_pages.TryGetValue(index, out byte[]? page))
                {
                    if (count == PageSize)
                    {
                        // The store holds zeroes (or nothing) there now: the cached page has nothing to add.
                        Evict(index, page, writeBack: false);
                    }
                    else
                    {
                        page.AsSpan(inPage, count).Clear();
                    }
                }

                position += count;
            }
        }
    }

    /// <summary>Writes every cached page back to the store (a flush).</summary>
    public void Flush()
    {
        lock (_lock)
        {
            foreach (KeyValuePair<long, byte[]> entry in _pages)
            {
                _store.Write(entry.Key << PageShift, entry.Value);
                _spare.Push(entry.Value);
            }

            _pages.Clear();
            _order.Clear();
            Volatile.Write(ref _cachedPages, 0);
        }
    }

    /// <summary>Loses every cached page (a power cut): the store keeps only what was written back.</summary>
    public void Drop()
    {
        lock (_lock)
        {
            _pages.Clear();
            _order.Clear();
            Volatile.Write(ref _cachedPages, 0);
        }
    }

    private byte[] GetOrLoadPage(long index)
    {
        if (_pages.TryGetValue(index, out byte[]? page))
        {
            return page;
        }

        while (_pages.Count >= _capacityPages && _order.TryDequeue(out long oldest))
        {
            // The queue may name pages already written back or dropped; skip those.
            if (_pages.TryGetValue(oldest, out byte[]? victim))
            {
                Evict(oldest, victim, writeBack: true);
            }
        }

        page = _spare.TryPop(out byte[]? spare) ? spare : new byte[PageSize];
        _store.Read(index << PageShift, page);
        _pages.Add(index, page);
        _order.Enqueue(index);
        if (_order.Count > (2 * _capacityPages) + 64)
        {
            // Pages zeroed out of the cache leave stale entries behind; rebuild the queue from the live pages.
            _order.Clear();
            foreach (long live in _pages.Keys)
            {
                _order.Enqueue(live);
            }
        }
        Volatile.Write(ref _cachedPages, _pages.Count);
        return page;
    }

    private void Evict(long index, byte[] page, bool writeBack)
    {
        if (writeBack)
        {
            _store.Write(index << PageShift, page);
        }

        _pages.Remove(index);
        _spare.Push(page);
        Volatile.Write(ref _cachedPages, _pages.Count);
    }
}
