using BenchmarkDotNet.Attributes;

namespace Blkmq.Benchmarks;

/// <summary>
/// (d) A request handle ended by a minimal struct driver, measured through <see cref="BlockDevice"/>: what the
/// block layer itself costs per IO, with and without per-IO statistics.
/// </summary>
[MemoryDiagnoser]
public class RequestEndBenchmarks
{
    private const int Reads = 1024;

    private readonly byte[] _buffer = GC.AllocateArray<byte>(4096, pinned: true);
    private TagSet<InlineEndDriver, byte, byte, byte> _tagSet = null!;
    private BlockDevice _device = null!;

    [Params(true, false)]
    public bool IoStatistics { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _tagSet = new TagSet<InlineEndDriver, byte, byte, byte>(default, new TagSetOptions { QueueDepth = 64 });
        Disk disk = _tagSet.AddDisk(0, new DiskOptions { Name = "inline0", Capacity = 1L << 30, IoStatistics = IoStatistics });
        _device = disk.OpenDevice();
    }

    [GlobalCleanup]
    public void Cleanup() => _tagSet.Dispose();

    /// <summary>Submit a 4 KiB read, the driver ends it inline, read the result; per read.</summary>
    [Benchmark(OperationsPerInvoke = Reads)]
    public async Task ReadEndedInline()
    {
        byte[] buffer = _buffer;
        for (int i = 0; i < Reads; i++)
        {
            await _device.ReadAsync((long)(i & 255) << 12, buffer);
        }
    }
}
