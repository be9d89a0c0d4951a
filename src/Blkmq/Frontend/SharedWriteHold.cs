using System.Collections.Concurrent;
using System.Threading.Tasks.Sources;

namespace Blkmq.Frontend;

/// <summary>
/// Keeps a pending write's shared hold of the disk's <see cref="RangeLock"/> until the write has ended, then completes
/// its own awaiter with the write's status. Pooled: a pending write of whole blocks allocates nothing in steady state.
/// </summary>
/// <remarks>
/// Implements both value-task source interfaces: as <see cref="IValueTaskSource{BlockStatus}"/> it hands out the
/// status; as <see cref="IValueTaskSource"/> it throws <see cref="BlockIOException"/> on a failed status. The core is
/// reset before the object goes back to the pool, so a second <c>GetResult</c> with a used token throws
/// <see cref="InvalidOperationException"/> and cannot return the object to the pool twice.
/// </remarks>
internal sealed class SharedWriteHold : IValueTaskSource<BlockStatus>, IValueTaskSource
{
    private static readonly ConcurrentQueue<SharedWriteHold> s_pool = new();

    private readonly Action _onWriteEnded;
    private ManualResetValueTaskSourceCore<BlockStatus> _core;
    private ValueTask<BlockStatus> _write;
    private RangeLock? _ranges;
    private RequestOp _op;
    private long _offset;
    private long _length;

    private SharedWriteHold()
    {
        _onWriteEnded = OnWriteEnded;
    }

    /// <summary>
    /// Takes over a pending write and the shared hold it was submitted under (<see cref="RangeLock.TryEnterShared"/>):
    /// the hold is released when the write ends, before the returned submission completes.
    /// </summary>
    /// <returns>A pending submission whose source is the pooled hold.</returns>
    public static Submission Hold(ValueTask<BlockStatus> write, RangeLock ranges, RequestOp op, long offset, long length)
    {
        if (!s_pool.TryDequeue(out SharedWriteHold? hold))
        {
            hold = new SharedWriteHold();
        }

        hold._ranges = ranges;
        hold._op = op;
        hold._offset = offset;
        hold._length = length;
        hold._write = write;
        short version = hold._core.Version;
        write.GetAwaiter().UnsafeOnCompleted(hold._onWriteEnded);
        return Submission.Pending(hold, version);
    }

    public BlockStatus GetResult(short token)
    {
        BlockStatus status = _core.GetResult(token);
        Recycle();
        return status;
    }

    void IValueTaskSource.GetResult(short token)
    {
        BlockStatus status = _core.GetResult(token);
        RequestOp op = _op;
        long offset = _offset;
        long length = _length;
        Recycle();
        if (status != BlockStatus.Ok)
        {
            throw BlockIOException.Create(status, op, offset, length);
        }
    }

    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);

    private void OnWriteEnded()
    {
        ValueTask<BlockStatus> write = _write;
        _write = default;
        BlockStatus status;
        try
        {
            status = write.GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is InvalidOperationException or BlockIOException)
        {
            _ranges!.ExitShared();
            _core.SetException(e);
            return;
        }

        // Released before the submitter continues: a read-modify-write waiting for it may start as this write is done.
        _ranges!.ExitShared();
        _core.SetResult(status);
    }

    private void Recycle()
    {
        _core.Reset();
        _ranges = null;
        s_pool.Enqueue(this);
    }
}
