using HdrHistogram;

namespace Blkmq.Bench;

/// <summary>Latency figures of the measured phase, in nanoseconds, from the merged HDR histogram.</summary>
public sealed record LatencySummary
{
    /// <summary>Gets the mean.</summary>
    public double Mean { get; init; }

    /// <summary>Gets the smallest value.</summary>
    public long Min { get; init; }

    /// <summary>Gets the median.</summary>
    public long P50 { get; init; }

    /// <summary>Gets the 90th percentile.</summary>
    public long P90 { get; init; }

    /// <summary>Gets the 99th percentile.</summary>
    public long P99 { get; init; }

    /// <summary>Gets the 99.9th percentile.</summary>
    public long P999 { get; init; }

    /// <summary>Gets the 99.99th percentile.</summary>
    public long P9999 { get; init; }

    /// <summary>Gets the largest value.</summary>
    public long Max { get; init; }

    /// <summary>Gets the standard deviation.</summary>
    public double StdDev { get; init; }

    /// <summary>Summarizes a histogram; all zero when it is empty.</summary>
    /// <param name="histogram">The recorded values.</param>
    /// <returns>The summary.</returns>
    public static LatencySummary From(HistogramBase histogram)
    {
        if (histogram.TotalCount == 0)
        {
            return new LatencySummary();
        }

        return new LatencySummary
        {
            Mean = histogram.GetMean(),
            // The lowest value of the smallest sample's bucket: GetValueAtPercentile gives its highest, which is above
            // the mean (made of the buckets' middles) when every sample fell in one bucket (a single IO, say).
            Min = histogram.LowestEquivalentValue(histogram.GetValueAtPercentile(0)),
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
