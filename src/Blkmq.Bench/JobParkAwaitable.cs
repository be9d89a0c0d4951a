using System.Runtime.CompilerServices;

namespace Blkmq.Bench;

/// <summary>
/// Parks a worker at the end of warmup: its continuation is kept by the job and queued again when the measured
/// phase starts, so that all workers cross the phase boundary together and no IO straddles it.
/// </summary>
internal readonly struct JobParkAwaitable : ICriticalNotifyCompletion
{
    private readonly BenchJob _job;

    public JobParkAwaitable(BenchJob job) => _job = job;

    public bool IsCompleted => false;

    public JobParkAwaitable GetAwaiter() => this;

    public void GetResult()
    {
    }

    public void OnCompleted(Action continuation) => _job.Park(continuation);

    public void UnsafeOnCompleted(Action continuation) => _job.Park(continuation);
}
