namespace Blkmq.Bench;

/// <summary>
/// The signals between a benchmark's controller and its jobs. Protocol: jobs run warmup IO until
/// <see cref="WarmupOver"/> (timed runs) or their warmup share is done (counted runs), then every worker parks;
/// a job whose workers are all parked signals <see cref="WarmupDone"/> and waits on <see cref="MeasureGate"/>.
/// The controller, once all jobs signalled, snapshots the counters and opens the gate; the measured phase ends
/// when it sets <see cref="Stopping"/> (timed) or when the jobs run out of IOs (counted), each signalling
/// <see cref="JobsDone"/>.
/// </summary>
internal sealed class BenchControl : IDisposable
{
    private volatile bool _warmupOver;
    private volatile bool _stopping;

    public BenchControl(int jobs)
    {
        WarmupDone = new CountdownEvent(jobs);
        JobsDone = new CountdownEvent(jobs);
    }

    /// <summary>Gets whether a timed warmup is over: workers park after their current IO. Read once per warmup IO.</summary>
    public bool WarmupOver => _warmupOver;

    /// <summary>Gets whether the run is over: workers stop after their current IO. Read once per IO.</summary>
    public bool Stopping => _stopping;

    /// <summary>Gets the count of jobs still warming up.</summary>
    public CountdownEvent WarmupDone { get; }

    /// <summary>Gets the gate parked jobs wait on; opened when the measured phase starts.</summary>
    public ManualResetEventSlim MeasureGate { get; } = new(false);

    /// <summary>Gets the count of jobs still running.</summary>
    public CountdownEvent JobsDone { get; }

    /// <summary>Ends a timed warmup.</summary>
    public void EndWarmup() => _warmupOver = true;

    /// <summary>Stops every worker after its current IO, and releases jobs still parked.</summary>
    public void Stop()
    {
        _stopping = true;
        _warmupOver = true;
        MeasureGate.Set();
    }

    public void Dispose()
    {
        WarmupDone.Dispose();
        JobsDone.Dispose();
        MeasureGate.Dispose();
    }
}
