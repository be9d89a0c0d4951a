using System.Runtime.CompilerServices;

namespace Blkmq.Bench;

/// <summary>
/// Awaits one device IO and resumes the awaiting worker on its job's thread. An IO that completed inline is not
/// awaited at all; otherwise the IO's completion (on a completion context, a timer thread or the job's own poll)
/// runs the worker's cached <see cref="BenchWorker.Resume"/>, which only queues the worker's continuation to its
/// job. Nothing is allocated: the continuation is the state machine's cached delegate, and the value-task
/// source is the request's pooled one.
/// </summary>
/// <remarks>
/// Awaiting with <c>ConfigureAwait(true)</c> and a synchronization context would also bring the worker home, but
/// <c>ManualResetValueTaskSourceCore</c> allocates a tuple for every post to a context; this awaiter does not.
/// </remarks>
internal readonly struct JobAwaitable : ICriticalNotifyCompletion
{
    private readonly ValueTask _io;
    private readonly BenchWorker _worker;

    public JobAwaitable(ValueTask io, BenchWorker worker)
    {
        _io = io;
        _worker = worker;
    }

    public bool IsCompleted => _io.IsCompleted;

    public JobAwaitable GetAwaiter() => this;

    /// <summary>Reads the IO's result (freeing its request); throws <see cref="BlockIOException"/> when it failed.</summary>
    public void GetResult() => _io.GetAwaiter().GetResult();

    public void OnCompleted(Action continuation) => UnsafeOnCompleted(continuation);

    public void UnsafeOnCompleted(Action continuation)
    {
        // An IO that completed since IsCompleted was read goes straight to the job's queue: registering on a
        // completed source makes ManualResetValueTaskSourceCore queue the callback to the thread pool, which
        // allocates a work item.
        if (_io.IsCompleted)
        {
            _worker.Job.Post(continuation);
            return;
        }

        _worker.Continuation = continuation;
        _io.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(_worker.Resume);
    }
}
