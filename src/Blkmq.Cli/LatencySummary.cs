using HdrHistogram;

namespace Blkmq.Cli;

/// <summary>Latency figures of the measured phase, in nanoseconds, from the merged HDR histogram.</summary>
internal sealed record LatencySummary
{
    public double Mean { get; init; }

    public long Min { get; init; }

    public long P50 { get; init; }

    public long P90 { get; init; }

    public long P99 { get; init; }

    public long P999 { get; init; }

    public long P9999 { get; init; }

    public long Max { get; init; }

    public double StdDev { get; init; }

    public static LatencySummary From(HistogramBase histogram)
    {
        if (histogram.TotalCount == 0)
        {
            return new LatencySummary();
        }

        return new LatencySummary
        {
            Mean = histogram.GetMean(),
            Min = histogram.GetValueAtPercentile(0),
            P50 = histogram.GetValueAtPercentile(50),
            P90 = histogram.GetValueAtPercentile(90),
            P99 = histogram.GetValueAtPercentile(99),
            P999 = histogram.GetValueAtPercentile(99.9),
            P9999 = histogram.GetValueAtPercentile(99.99),
            Max = histogram.GetMaxValue(),
            StdDev = histogram.GetStdDeviation(),
        };
    }
}
