using System.Threading.Tasks.Sources;

namespace Blkmq.Nbd;

/// <summary>
/// An auto-reset event for one waiter at a time, awaited without allocating: <see cref="WaitAsync"/> completes when
/// <see cref="Set"/> was called since the last wait ended. Continuations run on the thread pool, never inline in
/// <see cref="Set"/>, so a completion thread that signals is not taken over by the waiter.
/// </summary>
internal sealed class AsyncSignal : IValueTaskSource
{
    private readonly Lock _lock = new();
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true }; // mutable struct: never readonly
    private bool _set;
    private bool _waiting;

    /// <summary>Waits for the signal and resets it. Only one wait may be pending; await the result exactly once.</summary>
    /// <returns>A task that completes when the signal is set.</returns>
    public ValueTask WaitAsync()
    {
        lock (_lock)
        {
            if (_set)
            {
                _set = false;
                return default;
            }

            _core.Reset();
            _waiting = true;
            return new ValueTask(this, _core.Version);
        }
    }

    /// <summary>Sets the signal, releasing the waiter if there is one.</summary>
    public void Set()
    {
        lock (_lock)
        {
            if (!_waiting)
            {
                _set = true;
                return;
            }

            _waiting = false;
        }

        _core.SetResult(true);
    }

    void IValueTaskSource.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
