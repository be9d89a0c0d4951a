namespace Blkmq.Metrics;

/// <summary>Which IOs the latency histogram <c>blkmq.request.duration</c> records (<see cref="BlkmqMeter.LatencySampling"/>).</summary>
public enum LatencySampling
{
    /// <summary>
    /// A sample: per disk, the first IO to start in each tick of the block layer's coarse clock (1 ms, or the kernel's
    /// 1-4 ms jiffy), so at most a few hundred to a thousand IOs a second. Its quantiles describe the IOs; its count
    /// is not theirs (<c>blkmq.disk.operations</c> counts every IO). Costs nothing measurable per IO.
    /// </summary>
    Sampled,

    /// <summary>Every IO: two precise clock reads and one <c>Histogram.Record</c> per IO, about 1-2 µs of CPU.</summary>
    Every,
}
