using System.Threading.Tasks.Sources;

namespace Blkmq;

/// <summary>
/// The submitter's side of one zone append: receives the sector the driver wrote at and the request's status,
/// and hands the byte offset to the awaiting caller as a <see cref="ValueTask{TResult}"/> of <see cref="long"/>.
/// Pooled, so appends do not allocate in steady state.
/// </summary>
/// <remarks>
/// Each rental has a new cookie, passed with the request; calls carrying an older cookie (a driver that reports
/// a sector through a stale handle racing with the end) are ignored, so they never touch a later append.
/// </remarks>
internal sealed class ZoneAppendCompletion : IZoneAppendCompletion, IValueTaskSource<long>
{
    private static readonly Lock s_poolLock = new();
    private static readonly Stack<ZoneAppendCompletion> s_pool = new();

    private ManualResetValueTaskSourceCore<long> _core;
    private long _cookie;
    private long _resultSector;
    private long _offset;
    private int _length;

    public long Cookie => Volatile.Read(ref _cookie);

    public short Version => _core.Version;

    public static ZoneAppendCompletion Rent(long offset, int length)
    {
        ZoneAppendCompletion? completion = null;
        lock (s_poolLock)
        {
            s_pool.TryPop(out completion);
        }

        completion ??= new ZoneAppendCompletion();
        completion._core.Reset();
        completion._resultSector = -1;
        completion._offset = offset;
        completion._length = length;
        Interlocked.Increment(ref completion._cookie);
        return completion;
    }

    /// <summary>Records a request that finished at submission (its target was not called).</summary>
    public void OnSubmitted(Submission submission)
    {
        if (submission.IsCompleted)
        {
            OnRequestCompleted(Cookie, submission.Status);
        }
    }

    public void OnResultSector(long cookie, long sector)
    {
        if (cookie == Volatile.Read(ref _cookie))
        {
            Volatile.Write(ref _resultSector, sector);
        }
    }

    public void OnRequestCompleted(long cookie, BlockStatus status)
    {
        if (cookie != Volatile.Read(ref _cookie))
        {
            return;
        }

        long sector = Volatile.Read(ref _resultSector);
        if (status == BlockStatus.Ok && sector < 0)
        {
            _core.SetException(new BlockIOException(BlockStatus.IoError, $"ZoneAppend of {_length} bytes at offset {_offset} succeeded but the driver did not report where it wrote (Request.SetResultSector)."));
        }
        else if (status != BlockStatus.Ok)
        {
            _core.SetException(BlockIOException.Create(status, RequestOp.ZoneAppend, _offset, _length));
        }
        else
        {
            _core.SetResult(sector << 9);
        }
    }

    public long GetResult(short token)
    {
        if (token != _core.Version)
        {
            // A wrong or repeated await: let the core throw, and keep the completion out of the pool.
            return _core.GetResult(token);
        }

        try
        {
            return _core.GetResult(token);
        }
        finally
        {
            lock (s_poolLock)
            {
                s_pool.Push(this);
            }
        }
    }

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
