using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;

namespace Blkmq;

/// <summary>
/// What a submission turned into: finished at once with a status, pending on a request slot (awaited through
/// the slot's own value-task source, no allocation), or pending on a slow path (tag wait, split, freeze).
/// </summary>
internal readonly struct Submission
{
    private readonly IValueTaskSource<BlockStatus>? _source;
    private readonly ValueTask<BlockStatus> _slow;
    private readonly short _token;
    private readonly BlockStatus _status;
    private readonly byte _kind;

    private Submission(byte kind, BlockStatus status, IValueTaskSource<BlockStatus>? source, short token, ValueTask<BlockStatus> slow)
    {
        _kind = kind;
        _status = status;
        _source = source;
        _token = token;
        _slow = slow;
    }

    public bool IsCompleted => _kind == 0;

    /// <summary>Gets whether the disk's gate refused a fresh submission; the caller still owns its slot.</summary>
    public bool IsRejected => _kind == 4;

    /// <summary>
    /// Gets whether an unrecorded write was turned back before it reached the driver (a range is held exclusive or
    /// wanted, or it would have had to wait): the caller submits it again under a recorded hold.
    /// </summary>
    public bool IsWriteGated => _kind == 5;

    public BlockStatus Status => _status;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Submission Done(BlockStatus status) => new(0, status, null, 0, default);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Submission Pending(RequestSlot slot, short token) => new(1, BlockStatus.Ok, slot, token, default);

    /// <summary>Pending on a pooled source other than a slot, whose non-generic <c>GetResult</c> throws on a failed status.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Submission Pending<TSource>(TSource source, short token)
        where TSource : class, IValueTaskSource<BlockStatus>, IValueTaskSource => new(1, BlockStatus.Ok, source, token, default);

    public static Submission Slow(ValueTask<BlockStatus> task) =>
        task.IsCompletedSuccessfully ? Done(task.Result) : new(2, BlockStatus.Ok, null, 0, task);

    /// <summary>A fresh submission the closed gate refused.</summary>
    public static Submission Rejected() => new(4, BlockStatus.Ok, null, 0, default);

    /// <summary>An unrecorded write the disk turned back; nothing of it reached the driver.</summary>
    public static Submission WriteGated() => new(5, BlockStatus.Ok, null, 0, default);

    /// <summary>A submission whose completion goes to a callback target later.</summary>
    public static Submission Callback() => new(3, BlockStatus.Ok, null, 0, default);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ValueTask<BlockStatus> AsStatusTask() => _kind switch
    {
        0 => new ValueTask<BlockStatus>(_status),
        1 => new ValueTask<BlockStatus>(_source!, _token),
        _ => _slow,
    };

    /// <summary>As a value task that throws <see cref="BlockIOException"/> on a failed status.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ValueTask AsTask(RequestOp op, long offset, long length)
    {
        if (_kind == 0)
        {
            return _status == BlockStatus.Ok ? default : ValueTask.FromException(BlockIOException.Create(_status, op, offset, length));
        }

        return _kind == 1 ? new ValueTask((IValueTaskSource)_source!, _token) : ThrowOnFailureAsync(_slow, op, offset, length);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private static async ValueTask ThrowOnFailureAsync(ValueTask<BlockStatus> task, RequestOp op, long offset, long length)
    {
        BlockStatus status = await task.ConfigureAwait(false);
        if (status != BlockStatus.Ok)
        {
            throw BlockIOException.Create(status, op, offset, length);
        }
    }
}
