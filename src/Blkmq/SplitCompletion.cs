using System.Threading.Tasks.Sources;

namespace Blkmq;

/// <summary>
/// Joins the requests an IO was split into (the analogue of a bio chain): the IO ends when every part ended,
/// with the first failing part's status. Pooled per disk, so large IO does not allocate in steady state.
/// </summary>
internal sealed class SplitCompletion : IRequestCompletion, IValueTaskSource<BlockStatus>
{
    private static readonly Lock s_poolLock = new();
    private static readonly Stack<SplitCompletion> s_pool = new();

    private ManualResetValueTaskSourceCore<BlockStatus> _core;
    private int _remaining;
    private int _status;

    public static SplitCompletion Rent()
    {
        SplitCompletion? split = null;
        lock (s_poolLock)
        {
            s_pool.TryPop(out split);
        }

        split ??= new SplitCompletion();
        split._core.Reset();
        split._remaining = 1;
        split._status = (int)BlockStatus.Ok;
        return split;
    }

    public short Version => _core.Version;

    /// <summary>Registers one more part before it is submitted.</summary>
    public void AddPart() => Interlocked.Increment(ref _remaining);

    /// <summary>Records a part that finished at submission (its target was not called).</summary>
    public void OnSubmitted(Submission submission)
    {
        if (submission.IsCompleted)
        {
            OnRequestCompleted(0, submission.Status);
        }
    }

    /// <summary>Drops the submitter's own reference, taken by <see cref="Rent"/>, once all parts are submitted.</summary>
    public void Arrive()
    {
        if (Interlocked.Decrement(ref _remaining) == 0)
        {
            _core.SetResult((BlockStatus)Volatile.Read(ref _status));
        }
    }

    public void OnRequestCompleted(long cookie, BlockStatus status)
    {
        if (status != BlockStatus.Ok)
        {
            Interlocked.CompareExchange(ref _status, (int)status, (int)BlockStatus.Ok);
        }

        Arrive();
    }

    public BlockStatus GetResult(short token)
    {
        BlockStatus status = _core.GetResult(token);
        lock (s_poolLock)
        {
            s_pool.Push(this);
        }

        return status;
    }

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
