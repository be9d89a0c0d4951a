using System.Diagnostics.Metrics;
using BenchmarkDotNet.Attributes;
using Blkmq.Drivers.Null;
using Blkmq.Metrics;

namespace Blkmq.Benchmarks;

/// <summary>
/// What the latency histogram <c>blkmq.request.duration</c> adds to one null-driver read (<c>irqmode=0</c>, queue
/// depth 1): no listener; a listener with the default sample (per disk the first IO of each coarse clock tick); a
/// listener recording every IO. The listener here only sums the values (an exporter such as OpenTelemetry's adds
/// its aggregation on top, per recorded IO), so the sampled case shows what choosing the sample costs every IO.
/// </summary>
[MemoryDiagnoser]
public class LatencyHistogramBenchmarks
{
    private const int Reads = 1024;

    private NullBlock _nullBlock = null!;
    private BlockDevice _device = null!;
    private byte[] _buffer = null!;
    private MeterListener? _listener;
    private double _sum;

    /// <summary>Which IOs are recorded: <c>none</c> (no listener), <c>sampled</c>, <c>every</c>.</summary>
    [Params("none", "sampled", "every")]
    public string Histogram { get; set; } = "none";

    [GlobalSetup]
    public void Setup()
    {
        LatencySampling before = BlkmqMeter.LatencySampling;
        BlkmqMeter.LatencySampling = Histogram == "every" ? LatencySampling.Every : LatencySampling.Sampled;
        _nullBlock = NullBlock.Create(new NullBlockOptions { IrqMode = IrqMode.None, Size = 1L << 30 });
        BlkmqMeter.LatencySampling = before;
        _device = _nullBlock.Disk.OpenDevice();
        _buffer = GC.AllocateArray<byte>(4096, pinned: true);
        if (Histogram != "none")
        {
            _listener = new MeterListener
            {
                InstrumentPublished = static (instrument, listener) =>
                {
                    if (instrument.Meter.Name == BlkmqMeter.Name && instrument.Name == "blkmq.request.duration")
                    {
                        listener.EnableMeasurementEvents(instrument);
                    }
                },
            };
            _listener.SetMeasurementEventCallback<double>((_, value, _, _) => _sum += value);
            _listener.Start();
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _listener?.Dispose();
        _nullBlock.Dispose();
    }

    /// <summary>One 4 KiB read at a time; per read.</summary>
    [Benchmark(OperationsPerInvoke = Reads)]
    public async Task ReadQueueDepth1()
    {
        for (int i = 0; i < Reads; i++)
        {
            await _device.ReadAsync((i & 255) * 4096L, _buffer);
        }
    }
}
