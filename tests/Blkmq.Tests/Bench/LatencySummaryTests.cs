using Blkmq.Bench;
using HdrHistogram;

namespace Blkmq.Tests.Bench;

/// <summary>The latency summary bench reports: its figures stay in order when every sample falls in one histogram bucket.</summary>
public sealed class LatencySummaryTests
{
    [Theory]
    [InlineData(5_183_488L)] // a single IO of 'bench --ios 1' reported min 5185535 above mean 5183488
    [InlineData(123_456_789L)]
    [InlineData(2_049L)]
    public void OneSample_MinIsNotAboveMeanNorMedian(long nanoseconds)
    {
        var histogram = new LongHistogram(60_000_000_000L, 3);
        histogram.RecordValue(nanoseconds);

        LatencySummary summary = LatencySummary.From(histogram);

        Assert.True(summary.Min <= summary.Mean, $"min {summary.Min} > mean {summary.Mean}");
        Assert.True(summary.Min <= nanoseconds && nanoseconds <= summary.Max, $"{nanoseconds} not in [{summary.Min}, {summary.Max}]");
        Assert.True(summary.Min <= summary.P50 && summary.P50 <= summary.Max);
    }
}
