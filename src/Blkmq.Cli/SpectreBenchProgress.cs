using System.Globalization;
using Spectre.Console;
using Blkmq.Bench;

namespace Blkmq.Cli;

/// <summary>Shows a running benchmark as a Spectre.Console progress bar, redrawn only when the controller reports (no refresh thread).</summary>
internal sealed class SpectreBenchProgress : IBenchProgress
{
    private readonly ProgressContext _context;
    private readonly ProgressTask _task;

    public SpectreBenchProgress(ProgressContext context)
    {
        _context = context;
        _task = context.AddTask("warmup", maxValue: 1000);
    }

    public void Report(string phase, double fraction, double iops)
    {
        _task.Description = string.Create(CultureInfo.InvariantCulture, $"{phase,-9} [bold]{BenchFormat.Count(iops)}[/] IOPS");
        _task.Value = fraction * 1000;
        _context.Refresh();
    }
}
