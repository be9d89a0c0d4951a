using BenchmarkDotNet.Attributes;

namespace Blkmq.Benchmarks;

/// <summary>(c) The tag bitmap alone (<c>sbitmap</c>): one compare-and-swap to take a tag, one atomic AND to free it.</summary>
[MemoryDiagnoser]
public class TagBitmapBenchmarks
{
    private const int Operations = 1024;

    private TagBitmap _tags = null!;

    [Params(64, 1024)]
    public int Depth { get; set; }

    [GlobalSetup]
    public void Setup() => _tags = new TagBitmap(Depth);

    /// <summary>Allocate then free, per pair.</summary>
    [Benchmark(OperationsPerInvoke = Operations)]
    public int AllocateFree()
    {
        TagBitmap tags = _tags;
        int sum = 0;
        for (int i = 0; i < Operations; i++)
        {
            tags.TryAllocate(out int tag);
            tags.Free(tag);
            sum += tag;
        }

        return sum;
    }

    /// <summary>Fill 32 tags, then free them: the word is not empty while searching.</summary>
    [Benchmark(OperationsPerInvoke = Operations)]
    public int AllocateFree32Held()
    {
        TagBitmap tags = _tags;
        Span<int> held = stackalloc int[32];
        int sum = 0;
        for (int round = 0; round < Operations / 32; round++)
        {
            for (int i = 0; i < 32; i++)
            {
                tags.TryAllocate(out held[i]);
            }

            for (int i = 0; i < 32; i++)
            {
                sum += held[i];
                tags.Free(held[i]);
            }
        }

        return sum;
    }
}
