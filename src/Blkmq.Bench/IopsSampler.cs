using System.Diagnostics;

namespace Blkmq.Bench;

/// <summary>
/// Turns the jobs' racily read completion counters into IOPS per second of the run, and IOPS over the last
/// progress interval. Runs on the controller's thread; the jobs pay nothing for it beyond their plain counters.
/// </summary>
internal sealed class IopsSampler
{
    private readonly BenchJob[] _jobs;
    private readonly List<double> _perSecond;
    private readonly long _start;
    private long _lastSecondTimestamp;
    private long _lastSecondCount;
    private long _lastTickTimestamp;
    private long _lastTickCount;

    public IopsSampler(BenchJob[] jobs, long start, int expectedSeconds)
    {
        _jobs = jobs;
        _start = start;
        _lastSecondTimestamp = start;
        _lastTickTimestamp = start;
        _perSecond = new List<double>(expectedSeconds + 2);
    }

    public IReadOnlyList<double> PerSecond => _perSecond;

    /// <summary>Gets the IOs completed at the last <see cref="Tick"/>, warmup included.</summary>
    public long TotalCompleted => _lastTickCount;

    /// <summary>Gets the IOPS between the last two <see cref="Tick"/> calls.</summary>
    public double CurrentIops { get; private set; }

    /// <summary>Samples now: closes every whole second passed, and updates <see cref="CurrentIops"/>.</summary>
    public void Tick(long now)
    {
        long count = Count();
        if (now > _lastTickTimestamp)
        {
            CurrentIops = (count - _lastTickCount) * (double)Stopwatch.Frequency / (now - _lastTickTimestamp);
        }

        _lastTickTimestamp = now;
        _lastTickCount = count;
        long nextSecond = _start + ((_perSecond.Count + 1) * Stopwatch.Frequency);
        if (now >= nextSecond)
        {
            _perSecond.Add((count - _lastSecondCount) * (double)Stopwatch.Frequency / (now - _lastSecondTimestamp));
            _lastSecondCount = count;
            _lastSecondTimestamp = now;
        }
    }

    /// <summary>Closes the run: a last partial second is kept if it lasted at least a fifth of a second.</summary>
    public void Finish(long now)
    {
        long count = Count();
        if (now - _lastSecondTimestamp >= Stopwatch.Frequency / 5 || _perSecond.Count == 0)
        {
            long elapsed = Math.Max(1, now - _lastSecondTimestamp);
            _perSecond.Add((count - _lastSecondCount) * (double)Stopwatch.Frequency / elapsed);
        }
    }

    /// <summary>Gets the IOs completed now, warmup included (racy, for progress checks).</summary>
    public long CountNow() => Count();

    private long Count()
    {
        long sum = 0;
        foreach (BenchJob job in _jobs)
        {
            sum += job.Completed;
        }

        return sum;
    }
}
