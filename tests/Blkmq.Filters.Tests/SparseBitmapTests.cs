using Blkmq.Filters;

namespace Blkmq.Filters.Tests;

/// <summary>The cow filter's sparse bitmap answers as a flat one would, and takes pages only where bits were set.</summary>
public sealed class SparseBitmapTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void RandomRanges_MatchAFlatModel(int seed)
    {
        // Four and a bit pages, so that ranges cross page and word boundaries and the last page is partial.
        long length = (4 * SparseBitmap.PageBits) + 1000;
        var bitmap = new SparseBitmap(length);
        bool[] model = new bool[length];
        var random = new Random(seed);
        for (int step = 0; step < 400; step++)
        {
            long first = random.NextInt64(length);
            long end = Math.Min(length, first + (random.Next(3) == 0 ? random.NextInt64(2 * SparseBitmap.PageBits) : random.Next(200)));
            bool value = random.Next(3) != 0;
            bitmap.SetRange(first, end, value);
            Array.Fill(model, value, (int)first, (int)(end - first));

            long from = random.NextInt64(length);
            long to = Math.Min(length, from + random.NextInt64(3 * SparseBitmap.PageBits));
            bool wanted = random.Next(2) == 0;
            Assert.Equal(ModelFind(model, from, to, wanted), bitmap.Find(from, to, wanted));
            long probe = random.NextInt64(length);
            Assert.Equal(model[probe], bitmap.Test(probe));
        }

        for (long i = 0; i < length; i++)
        {
            Assert.True(model[i] == bitmap.Test(i), $"bit {i}");
        }
    }

    [Fact]
    public void ATerabyteOfBlocks_TakesPagesOnlyWhereSet()
    {
        // 1 TiB of 512-byte blocks: a flat bitmap would be 256 MiB.
        var bitmap = new SparseBitmap(1L << 31);
        Assert.Equal(0, bitmap.PagesInUse);
        Assert.Equal(1L << 31, bitmap.Find(0, 1L << 31, value: true));
        Assert.Equal(0, bitmap.Find(0, 1L << 31, value: false));

        bitmap.SetRange((1L << 31) - 10, 1L << 31, value: true);
        bitmap.SetRange(5, 9, value: false);
        Assert.Equal(1, bitmap.PagesInUse);
        Assert.Equal((1L << 31) - 10, bitmap.Find(0, 1L << 31, value: true));
        Assert.True(bitmap.Test((1L << 31) - 1));
        Assert.False(bitmap.Test((1L << 31) - 11));
    }

    private static long ModelFind(bool[] model, long from, long end, bool value)
    {
        for (long i = from; i < end; i++)
        {
            if (model[i] == value)
            {
                return i;
            }
        }

        return end;
    }
}
