using HdrHistogram;
using ScottPlot;
using SkiaSharp;
using Blkmq.Bench;

namespace Blkmq.Cli;

/// <summary>
/// Draws a benchmark as one SVG with two panels: IOPS for each second of the run (warmup shaded) and the latency
/// percentile curve (percentile on a "nines" axis: 90, 99, 99.9, ...). ScottPlot renders through SkiaSharp's SVG
/// canvas, which needs no display.
/// </summary>
internal static class BenchPlot
{
    private const int Width = 900;
    private const int Height = 900;

    public static void Save(string path, BenchSettings settings, BenchResult result)
    {
        var iopsPlot = new Plot();
        double[] seconds = new double[result.IopsPerSecond.Count];
        double[] iops = new double[result.IopsPerSecond.Count];
        for (int i = 0; i < seconds.Length; i++)
        {
            seconds[i] = i + 1;
            iops[i] = result.IopsPerSecond[i];
        }

        if (result.WarmupSeconds > 0)
        {
            var warmup = iopsPlot.Add.HorizontalSpan(0, result.WarmupSeconds);
            warmup.FillStyle.Color = Colors.Gray.WithAlpha(0.15);
            warmup.LegendText = "warmup";
        }

        var line = iopsPlot.Add.Scatter(seconds, iops);
        line.LegendText = "IOPS";
        iopsPlot.Title($"blkmq bench {settings.ModeName} bs={BenchFormat.Size(settings.BlockSize)} iodepth={settings.IoDepth} numjobs={settings.Jobs}: IOPS per second");
        iopsPlot.XLabel("time (s)");
        iopsPlot.YLabel("IOPS");
        iopsPlot.Axes.SetLimitsY(0, Math.Max(1, iops.Length == 0 ? 1 : iops.Max() * 1.1));

        var latencyPlot = new Plot();
        (double[] nines, double[] micros) = PercentileCurve(result.Histogram);
        // Latencies span decades (hundreds of ns to ms): plot log10(µs) and label the ticks with µs.
        double[] logMicros = Array.ConvertAll(micros, static m => Math.Log10(Math.Max(m, 0.001)));
        var curve = latencyPlot.Add.Scatter(nines, logMicros);
        curve.MarkerSize = 0;
        curve.LineWidth = 2;
        latencyPlot.Title("Latency by percentile (measured phase)");
        latencyPlot.XLabel("percentile");
        latencyPlot.YLabel("latency (µs, log scale)");
        latencyPlot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
            IntegerTicksOnly = true,
            LabelFormatter = static y => Math.Pow(10, y).ToString("G4", System.Globalization.CultureInfo.InvariantCulture),
        };
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        string[] labels = ["0", "90", "99", "99.9", "99.99", "99.999", "99.9999"];
        double maxNines = nines.Length == 0 ? 1 : nines.Max();
        for (int i = 0; i < labels.Length && i <= Math.Ceiling(maxNines); i++)
        {
            ticks.AddMajor(i, labels[i]);
        }

        latencyPlot.Axes.Bottom.TickGenerator = ticks;

        var multiplot = new Multiplot(iopsPlot);
        multiplot.Subplots.Add(latencyPlot);
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Rows();
        using FileStream file = File.Create(path);
        using (SKCanvas canvas = SKSvgCanvas.Create(new SKRect(0, 0, Width, Height), file))
        {
            multiplot.Render(canvas, new PixelRect(0, Width, Height, 0));
        }
    }

    /// <summary>The histogram as (nines, µs) points: nines = −log10(1 − p/100), so 90% is 1, 99% is 2, 99.9% is 3.</summary>
    private static (double[] Nines, double[] Micros) PercentileCurve(HistogramBase histogram)
    {
        var nines = new List<double>();
        var micros = new List<double>();
        if (histogram.TotalCount == 0)
        {
            return ([], []);
        }

        foreach (HdrHistogram.Iteration.HistogramIterationValue value in histogram.Percentiles(5))
        {
            double fraction = value.PercentileLevelIteratedTo / 100.0;
            if (fraction >= 1)
            {
                break;
            }

            nines.Add(-Math.Log10(1 - fraction));
            micros.Add(value.ValueIteratedTo / 1000.0);
        }

        // The curve ends at the maximum, one count short of 100%.
        nines.Add(Math.Log10(histogram.TotalCount));
        micros.Add(histogram.GetMaxValue() / 1000.0);
        return (nines.ToArray(), micros.ToArray());
    }
}
