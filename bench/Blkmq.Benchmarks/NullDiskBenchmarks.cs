using BenchmarkDotNet.Attributes;
using Blkmq.Drivers.Null;

namespace Blkmq.Benchmarks;

/// <summary>
/// The full in-process path on the null driver with <c>irqmode=0</c> (ended inside <c>QueueRq</c>): validate,
/// take a tag, fill the request, dispatch to the struct driver, end, account statistics, read the result, free.
/// </summary>
[MemoryDiagnoser]
public class NullDiskBenchmarks
{
    private const int Reads = 1024;
    private const int BatchSize = 32;
    private const int Batches = Reads / BatchSize;

    private readonly ValueTask[] _batch = new ValueTask[BatchSize];
    private readonly long[] _offsets = new long[Reads];
    private NullBlock _nullBlock = null!;
    private BlockDevice _device = null!;
    private byte[][] _buffers = null!;

    [GlobalSetup]
    public void Setup()
    {
        _nullBlock = NullBlock.Create(new NullBlockOptions { IrqMode = IrqMode.None, Size = 1L << 30, HwQueueDepth = 64 });
        _device = _nullBlock.Disk.OpenDevice();
        _buffers = new byte[BatchSize][];
        for (int i = 0; i < BatchSize; i++)
        {
            _buffers[i] = GC.AllocateArray<byte>(4096, pinned: true);
        }

        var random = new Random(42);
        for (int i = 0; i < _offsets.Length; i++)
        {
            _offsets[i] = random.NextInt64((1L << 30) / 4096) * 4096;
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _nullBlock.Dispose();

    /// <summary>(a) One 4 KiB read at a time: submit, complete, await, repeat (queue depth 1).</summary>
    [Benchmark(OperationsPerInvoke = Reads)]
    public async Task ReadQueueDepth1()
    {
        byte[] buffer = _buffers[0];
        for (int i = 0; i < Reads; i++)
        {
            await _device.ReadAsync(_offsets[i], buffer);
        }
    }

    /// <summary>(b) 32 reads started together, then each awaited once; per read.</summary>
    [Benchmark(OperationsPerInvoke = Reads)]
    public async Task ReadBatch32()
    {
        ValueTask[] batch = _batch;
        int next = 0;
        for (int b = 0; b < Batches; b++)
        {
            for (int i = 0; i < BatchSize; i++)
            {
#pragma warning disable CA2012 // Kept to be awaited exactly once below: that is the point of a batch.
                batch[i] = _device.ReadAsync(_offsets[next++], _buffers[i]);
#pragma warning restore CA2012
            }

            for (int i = 0; i < BatchSize; i++)
            {
                await batch[i];
                batch[i] = default;
            }
        }
    }
}
