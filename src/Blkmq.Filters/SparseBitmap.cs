using System.Numerics;

namespace Blkmq.Filters;

/// <summary>
/// A bitmap over a disk's blocks that costs memory only where bits were set: pages of <see cref="PageBits"/> bits
/// (4 KiB), taken on the first set bit in their range and kept. Unset pages read as zeroes. A 1 TiB disk of 512-byte
/// blocks needs a page table of 512 KiB, and 4 KiB more per 16 MiB of the disk that was ever written, against 256 MiB
/// for a flat bitmap. Not thread-safe: the owner serializes access (the cow filter's lock).
/// </summary>
internal sealed class SparseBitmap
{
    /// <summary>Bits per page: 512 words, 4 KiB.</summary>
    public const int PageBits = 1 << PageShift;

    private const int PageShift = 15;
    private const int WordsPerPage = PageBits / 64;

    private readonly ulong[]?[] _pages;

    /// <summary>Initializes a bitmap of <paramref name="length"/> bits, all clear.</summary>
    /// <param name="length">The number of bits.</param>
    public SparseBitmap(long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        Length = length;
        _pages = new ulong[]?[(length + PageBits - 1) >> PageShift];
    }

    /// <summary>Gets the number of bits.</summary>
    public long Length { get; }

    /// <summary>Gets the number of pages taken (for tests and reports).</summary>
    public int PagesInUse
    {
        get
        {
            int count = 0;
            foreach (ulong[]? page in _pages)
            {
                count += page is null ? 0 : 1;
            }

            return count;
        }
    }

    /// <summary>Gets bit <paramref name="index"/>.</summary>
    /// <param name="index">The bit, below <see cref="Length"/>.</param>
    /// <returns>Its value.</returns>
    public bool Test(long index)
    {
        ulong[]? page = _pages[index >> PageShift];
        return page is not null && (page[(index >> 6) & (WordsPerPage - 1)] & (1UL << (int)(index & 63))) != 0;
    }

    /// <summary>Finds the first bit in [<paramref name="from"/>, <paramref name="end"/>) that is <paramref name="value"/>, a word at a time (a page at a time where no page was taken).</summary>
    /// <param name="from">The first bit to look at.</param>
    /// <param name="end">One past the last bit to look at, at most <see cref="Length"/>.</param>
    /// <param name="value">The value looked for.</param>
    /// <returns>The index found, else <paramref name="end"/>.</returns>
    public long Find(long from, long end, bool value)
    {
        while (from < end)
        {
            ulong[]? page = _pages[from >> PageShift];
            long pageEnd = Math.Min(((from >> PageShift) + 1) << PageShift, end);
            if (page is null)
            {
                // An untaken page is all clear.
                if (!value)
                {
                    return from;
                }

                from = pageEnd;
                continue;
            }

            while (from < pageEnd)
            {
                ulong word = page[(from >> 6) & (WordsPerPage - 1)];
                if (!value)
                {
                    word = ~word;
                }

                word &= ~0UL << (int)(from & 63);
                if (word != 0)
                {
                    return Math.Min((from & ~63L) + BitOperations.TrailingZeroCount(word), end);
                }

                from = (from & ~63L) + 64;
            }

            from = pageEnd;
        }

        return end;
    }

    /// <summary>Sets the bits of [<paramref name="first"/>, <paramref name="end"/>) to <paramref name="value"/>, a word at a time; clearing leaves untaken pages untaken.</summary>
    /// <param name="first">The first bit.</param>
    /// <param name="end">One past the last bit, at most <see cref="Length"/>.</param>
    /// <param name="value">The value.</param>
    public void SetRange(long first, long end, bool value)
    {
        while (first < end)
        {
            long pageIndex = first >> PageShift;
            long pageEnd = Math.Min((pageIndex + 1) << PageShift, end);
            ulong[]? page = _pages[pageIndex];
            if (page is null)
            {
                if (!value)
                {
                    first = pageEnd;
                    continue;
                }

                page = _pages[pageIndex] = new ulong[WordsPerPage];
            }

            while (first < pageEnd)
            {
                long wordEnd = Math.Min((first & ~63L) + 64, pageEnd);
                int count = (int)(wordEnd - first);
                ulong mask = (count == 64 ? ~0UL : (1UL << count) - 1) << (int)(first & 63);
                ref ulong word = ref page[(first >> 6) & (WordsPerPage - 1)];
                word = value ? word | mask : word & ~mask;
                first = wordEnd;
            }
        }
    }
}
