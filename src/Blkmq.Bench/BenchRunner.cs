using System.Diagnostics;
using HdrHistogram;

namespace Blkmq.Bench;

/// <summary>
/// Runs a benchmark on a disk: starts the jobs, drives the phases (warmup, measured, stop),
/// samples IOPS once a second and snapshots the process counters at the edges of the measured phase. The
/// controller is the calling thread; it also draws the progress display, whose allocations it subtracts.
/// </summary>
/// <remarks>
/// The jobs run on threads of their own, iodepth async workers each, with no allocation per IO: requests, buffers
/// and continuations exist once per worker. A run in which no IO completes for a while (a lost completion) ends as
/// <see cref="BenchResult.Stalled"/>; its disk then still has IO in flight, so removing it would wait forever.
/// </remarks>
public sealed class BenchRunner
{
    private const int TickMilliseconds = 50;
    private const long ProgressIntervalMilliseconds = 250;

    private readonly BenchSettings _settings;
    private readonly IBenchProgress? _progress;
    private readonly CancellationToken _cancellationToken;
    private IopsSampler? _sampler;
    private long _nextProgress;
    private long _measureStart;
    private long _lastProgressCount;
    private long _lastProgressTimestamp;
    private bool _cancelled;
    private bool _stalled;

    private BenchRunner(BenchSettings settings, IBenchProgress? progress, CancellationToken cancellationToken)
    {
        _settings = settings;
        _progress = progress;
        _cancellationToken = cancellationToken;
    }

    /// <summary>Runs the benchmark described by <paramref name="settings"/> on <paramref name="disk"/>.</summary>
    /// <param name="disk">The disk; the caller's. After a stalled run (<see cref="BenchResult.Stalled"/>) it has IO that
    /// never completes, so removing it would wait forever.</param>
    /// <param name="settings">The benchmark.</param>
    /// <param name="progress">Where to show progress, or <see langword="null"/>.</param>
    /// <param name="cancellationToken">Ends the run early; the result then covers what was measured so far.</param>
    /// <returns>The measured figures.</returns>
    /// <exception cref="ArgumentOutOfRangeException">The settings do not fit together or do not fit the disk (<see cref="BenchSettings.Validate"/>).</exception>
    public static BenchResult Run(Disk disk, BenchSettings settings, IBenchProgress? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(disk);
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate(disk);
        var runner = new BenchRunner(settings, progress, cancellationToken);
        return runner.Run(disk);
    }

    private static long Ticks(TimeSpan time) => (long)(time.TotalSeconds * Stopwatch.Frequency);

    /// <summary>
    /// Starts a thread-pool worker and runs a timer callback once, so that the one-time cost of creating them
    /// (the tag set's timeout scan runs on the pool every second) is not charged to the measured phase.
    /// </summary>
    private static void WarmRuntime()
    {
        using var ran = new ManualResetEventSlim(false);
        using (new Timer(static state => ((ManualResetEventSlim)state!).Set(), ran, 0, Timeout.Infinite))
        {
            ran.Wait();
        }

        ran.Reset();
        ThreadPool.UnsafeQueueUserWorkItem(static state => state.Set(), ran, preferLocal: false);
        ran.Wait();
    }

    private BenchResult Run(Disk disk)
    {
        WarmRuntime();
        BlockDevice device = disk.OpenDevice();
        using var control = new BenchControl(_settings.Jobs);
        var jobs = new BenchJob[_settings.Jobs];
        for (int i = 0; i < jobs.Length; i++)
        {
            jobs[i] = new BenchJob(i, control, device, _settings);
        }

        int expectedSeconds = _settings.IsCountBased ? 16 : (int)Math.Min(1 << 20, (_settings.Runtime + _settings.Warmup).TotalSeconds + 2);
        long runStart = Stopwatch.GetTimestamp();
        _sampler = new IopsSampler(jobs, runStart, expectedSeconds);
        _lastProgressTimestamp = runStart;
        foreach (BenchJob job in jobs)
        {
            job.Start();
        }

        // Warmup: timed runs end it here; counted runs end it when every worker has done its share.
        PumpOutcome outcome = PumpOutcome.Done;
        if (!_settings.IsCountBased)
        {
            outcome = Pump("warmup", runStart + Ticks(_settings.Warmup), until: null);
            control.EndWarmup();
        }

        if (outcome == PumpOutcome.Done)
        {
            outcome = Pump("warmup", 0, control.WarmupDone);
        }

        if (outcome != PumpOutcome.Done)
        {
            control.Stop();
        }

        WaitForJobs(control.WarmupDone);
        BenchSnapshot start = BenchSnapshot.TakeStart(disk);
        _measureStart = start.Timestamp;
        double warmupSeconds = (double)(start.Timestamp - runStart) / Stopwatch.Frequency;
        control.MeasureGate.Set();

        BenchSnapshot end;
        if (_settings.IsCountBased)
        {
            if (outcome == PumpOutcome.Done)
            {
                outcome = Pump("measuring", 0, control.JobsDone);
            }

            if (outcome != PumpOutcome.Done)
            {
                control.Stop();
            }

            long last = 0;
            if (WaitForJobs(control.JobsDone))
            {
                foreach (BenchJob job in jobs)
                {
                    last = Math.Max(last, job.EndTimestamp);
                }
            }

            end = BenchSnapshot.TakeEnd(disk, last);
        }
        else
        {
            if (outcome == PumpOutcome.Done)
            {
                outcome = Pump("measuring", start.Timestamp + Ticks(_settings.Runtime), until: null);
            }

            long stopAt = Stopwatch.GetTimestamp();
            control.Stop();
            end = BenchSnapshot.TakeEnd(disk, stopAt);
        }

        _progress?.Report("stopping", 1, _sampler.CurrentIops);
        _sampler.Finish(end.Timestamp);
        if (WaitForJobs(control.JobsDone))
        {
            foreach (BenchJob job in jobs)
            {
                job.Join();
                job.Dispose();
            }
        }

        return Collect(jobs, start, end, warmupSeconds, disk);
    }

    /// <summary>
    /// Waits for <paramref name="signal"/> while the jobs make progress (they finish their last IOs after a stop);
    /// no completion for the stall timeout marks the run stalled. After a stall, waits only briefly.
    /// </summary>
    private bool WaitForJobs(CountdownEvent signal)
    {
        long lastCount = -1;
        long lastChange = Stopwatch.GetTimestamp();
        while (!signal.Wait(_stalled ? 1000 : TickMilliseconds))
        {
            if (_stalled)
            {
                return false;
            }

            long count = _sampler!.CountNow();
            long now = Stopwatch.GetTimestamp();
            if (count != lastCount)
            {
                lastCount = count;
                lastChange = now;
            }
            else if (now - lastChange > StallTicks())
            {
                _stalled = true;
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Samples and reports until <paramref name="deadline"/> (a timestamp; 0 for none) passes or <paramref name="until"/>
    /// is set; stops early on Ctrl+C or when no IO completes for the stall timeout.
    /// </summary>
    private PumpOutcome Pump(string phase, long deadline, CountdownEvent? until)
    {
        while (true)
        {
            if (_cancellationToken.IsCancellationRequested)
            {
                _cancelled = true;
                return PumpOutcome.Cancelled;
            }

            if (until is not null && until.IsSet)
            {
                return PumpOutcome.Done;
            }

            long now = Stopwatch.GetTimestamp();
            if (deadline != 0 && now >= deadline)
            {
                return PumpOutcome.Done;
            }

            _sampler!.Tick(now);
            if (_sampler.TotalCompleted != _lastProgressCount)
            {
                _lastProgressCount = _sampler.TotalCompleted;
                _lastProgressTimestamp = now;
            }
            else if (now - _lastProgressTimestamp > StallTicks())
            {
                _stalled = true;
                return PumpOutcome.Stalled;
            }

            if (_progress is not null && now >= _nextProgress)
            {
                _nextProgress = now + (ProgressIntervalMilliseconds * Stopwatch.Frequency / 1000);
                _progress.Report(phase, Fraction(now), _sampler.CurrentIops);
            }

            int wait = TickMilliseconds;
            if (deadline != 0)
            {
                wait = (int)Math.Clamp((deadline - now) * 1000 / Stopwatch.Frequency, 1, TickMilliseconds);
            }

            if (until is not null)
            {
                until.Wait(wait);
            }
            else
            {
                _cancellationToken.WaitHandle.WaitOne(wait);
            }
        }
    }

    /// <summary>No completion for this long means a lost one: 5 s beyond three timer completions.</summary>
    private long StallTicks() => Ticks(TimeSpan.FromSeconds(5) + (_settings.CompletionDelay * 3));

    private double Fraction(long now)
    {
        if (_settings.IsCountBased)
        {
            return Math.Clamp((double)_sampler!.TotalCompleted / _settings.TotalIos, 0, 1);
        }

        if (_measureStart == 0)
        {
            return 0;
        }

        return Math.Clamp((double)(now - _measureStart) / Ticks(_settings.Runtime), 0, 1);
    }

    private BenchResult Collect(BenchJob[] jobs, BenchSnapshot start, BenchSnapshot end, double warmupSeconds, Disk disk)
    {
        var merged = new LongHistogram(jobs[0].Histogram.HighestTrackableValue, jobs[0].Histogram.NumberOfSignificantValueDigits);
        long ios = 0;
        long bytes = 0;
        long errors = 0;
        Exception? firstError = null;
        foreach (BenchJob job in jobs)
        {
            // After a stall the jobs never ended; their figures are read as they are.
            merged.Add(job.Histogram);
            ios += job.MeasuredIos;
            bytes += job.MeasuredBytes;
            errors += job.Errors;
            firstError ??= job.FirstError;
        }

        string? stall = null;
        if (_stalled)
        {
            errors++;
            stall = string.Create(
                System.Globalization.CultureInfo.InvariantCulture,
                $"Stalled: no IO completed for {StallTicks() / Stopwatch.Frequency} s while {disk.InFlight} request(s) of {disk.Name} were in flight (a lost completion).");
        }

        long allocated = (end.TotalAllocatedBytes - start.TotalAllocatedBytes) - (end.ControllerAllocatedBytes - start.ControllerAllocatedBytes);
        return new BenchResult
        {
            Ios = ios,
            Bytes = bytes,
            Seconds = (double)(end.Timestamp - start.Timestamp) / Stopwatch.Frequency,
            WarmupSeconds = warmupSeconds,
            LatencyNs = LatencySummary.From(merged),
            Histogram = merged,
            UserTime = end.UserTime - start.UserTime,
            SystemTime = end.SystemTime - start.SystemTime,
            AllocatedBytes = Math.Max(0, allocated),
            Gen0Collections = end.Gen0Collections - start.Gen0Collections,
            Gen1Collections = end.Gen1Collections - start.Gen1Collections,
            Gen2Collections = end.Gen2Collections - start.Gen2Collections,
            Errors = errors,
            FirstError = stall ?? firstError?.Message,
            IopsPerSecond = _sampler!.PerSecond,
            DiskStats = DiskStatsDelta.Between(start.Disk, end.Disk),
            Cancelled = _cancelled,
            Stalled = _stalled,
        };
    }
}
