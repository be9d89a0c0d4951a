using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Blkmq;

/// <summary>
/// A driver's handle to one request: what to do (operation, sector, length, buffers), the driver's typed data,
/// and the only way to end it. The analogue of the RFC's <c>ARef&lt;Request&lt;T&gt;&gt;</c>.
/// </summary>
/// <typeparam name="TData">The driver's per-request data.</typeparam>
/// <remarks>
/// <para>
/// The handle is a (slot, generation) pair. It is valid while the request it was made for is owned by the
/// driver: from <c>QueueRq</c> until the request is ended (or handed to completion with
/// <see cref="Complete(BlockStatus)"/>, until the <c>Complete</c> callback). Copies are free and all equal.
/// </para>
/// <para>
/// Every member checks the slot's state word against the handle's generation. <see cref="End(BlockStatus)"/>
/// succeeds exactly once per request, whichever copy or thread calls it; every later call fails with
/// <see cref="InvalidOperationException"/> (or <see cref="TryEnd(BlockStatus)"/> returns false), and reading a
/// field through an ended handle throws, even after the slot was recycled for another IO: the new IO has a new
/// generation, so the old handle never reaches it.
/// </para>
/// </remarks>
public readonly struct Request<TData>
{
    private readonly RequestSlot<TData> _slot;
    private readonly long _generation;

    internal Request(RequestSlot<TData> slot, long generation)
    {
        _slot = slot;
        _generation = generation;
    }

    /// <summary>Gets whether the driver still owns the request, so the handle may be used (a snapshot: another thread may end it).</summary>
    public bool IsOwned => _slot is not null && _slot.IsOwnedBy(_generation);

    /// <summary>Gets the operation.</summary>
    public RequestOp Op
    {
        get
        {
            RequestSlot<TData> slot = Owned();
            var value = (RequestOp)Volatile.Read(ref Unsafe.As<RequestOp, byte>(ref slot._op));
            Recheck(slot);
            return value;
        }
    }

    /// <summary>Gets the modifiers.</summary>
    public RequestFlags Flags
    {
        get
        {
            RequestSlot<TData> slot = Owned();
            var value = (RequestFlags)Volatile.Read(ref Unsafe.As<RequestFlags, byte>(ref slot._flags));
            Recheck(slot);
            return value;
        }
    }

    /// <summary>Gets the first sector, in 512-byte units (zero for a flush).</summary>
    public long Sector
    {
        get
        {
            RequestSlot<TData> slot = Owned();
            long value = Volatile.Read(ref slot._sector);
            Recheck(slot);
            return value;
        }
    }

    /// <summary>Gets the length in bytes (zero for a flush).</summary>
    public int Length
    {
        get
        {
            RequestSlot<TData> slot = Owned();
            int value = Volatile.Read(ref slot._bytes);
            Recheck(slot);
            return value;
        }
    }

    /// <summary>Gets the number of 512-byte sectors the request covers.</summary>
    public int SectorCount => Length >> 9;

    /// <summary>Gets the request's tag within its hardware queue.</summary>
    public int Tag => Owned().Tag;

    /// <summary>Gets the index of the hardware queue the request was dispatched to.</summary>
    public int HwQueueIndex => Owned().HwQueueIndex;

    /// <summary>Gets the status given to <see cref="Complete(BlockStatus)"/>, for the driver's <c>Complete</c> callback.</summary>
    public BlockStatus CompletionStatus => Owned().CompletionStatus;

    /// <summary>
    /// Gets the data segments: for a read the driver fills them, for a write it reads them; empty for flush,
    /// discard and write-zeroes. Every access through the returned list checks ownership, so a list kept past the
    /// request's end fails deterministically instead of showing the next IO's buffers.
    /// </summary>
    public RequestSegments<TData> Segments
    {
        get
        {
            Owned();
            return new RequestSegments<TData>(this);
        }
    }

    /// <summary>
    /// Gets the IO's token (queue, tag, generation): carry it through a foreign API and find the request again
    /// with <c>TagSet.TryGetRequest(token, …)</c>, which succeeds only for this IO and only while the driver owns it.
    /// </summary>
    public RequestToken Token
    {
        get
        {
            RequestSlot<TData> slot = Owned();
            return RequestToken.Create(slot.HwQueueIndex, slot.Tag, _generation);
        }
    }

    internal int SegmentCount
    {
        get
        {
            RequestSlot<TData> slot = Owned();
            int count = Volatile.Read(ref slot._segmentCount);
            Recheck(slot);
            return count;
        }
    }

    internal int CopySegments(Span<Memory<byte>> destination)
    {
        RequestSlot<TData> slot = Owned();
        int count = Volatile.Read(ref slot._segmentCount);
        if (destination.Length < count)
        {
            ThrowHelper.ThrowArgument($"The request has {count} segments; the destination holds {destination.Length}.", nameof(destination));
        }

        slot._segments.AsSpan(0, count).CopyTo(destination);
        Recheck(slot);
        return count;
    }

    internal Memory<byte> GetSegment(int index)
    {
        RequestSlot<TData> slot = Owned();
        int count = Volatile.Read(ref slot._segmentCount);
        if ((uint)index >= (uint)count)
        {
            ThrowSegmentIndex(index, count);
        }

        // Memory<T> is not written atomically; the recheck after it proves no new IO wrote the slot meanwhile.
        Memory<byte> segment = slot._segments[index];
        Recheck(slot);
        return segment;
    }

    /// <summary>Gets the driver's typed per-request data, by reference. Valid until the request is ended.</summary>
    public ref TData Data => ref Owned()._data;

    /// <summary>Ends the request (<c>blk_mq_end_request</c>); the handle and all its copies are dead afterwards.</summary>
    /// <param name="status">The outcome; <see cref="BlockStatus.Busy"/> and <see cref="BlockStatus.ResourceBusy"/> are not valid here.</param>
    /// <exception cref="InvalidOperationException">The request was already ended, timed out, or the handle is from an earlier IO.</exception>
    public void End(BlockStatus status)
    {
        if (!TryEnd(status))
        {
            ThrowHelper.ThrowAlreadyEnded(_slot.StateWord, _generation);
        }
    }

    /// <summary>
    /// Ends the request like <see cref="End(BlockStatus)"/>, saying where the submitter's continuation may run.
    /// </summary>
    /// <param name="status">The outcome.</param>
    /// <param name="options">
    /// <see cref="EndOptions.RunContinuationInline"/> lets this thread run the submitter's continuation (or its
    /// completion target) before the call returns, even when the block layer does not own the thread.
    /// </param>
    /// <exception cref="InvalidOperationException">The request was already ended.</exception>
    public void End(BlockStatus status, EndOptions options)
    {
        if (!TryEnd(status, options))
        {
            ThrowHelper.ThrowAlreadyEnded(_slot.StateWord, _generation);
        }
    }

    /// <summary>Ends the request successfully.</summary>
    /// <exception cref="InvalidOperationException">The request was already ended.</exception>
    public void EndOk() => End(BlockStatus.Ok);

    /// <summary>
    /// Ends the request if the driver still owns it. For completions that may legitimately lose a race, such as
    /// a timer that fires after the request timed out: false means someone else ended it and nothing was touched.
    /// </summary>
    /// <param name="status">The outcome.</param>
    /// <returns>Whether this call ended the request.</returns>
    public bool TryEnd(BlockStatus status)
    {
        ValidateEndStatus(status);
        return _slot is not null && _slot.TryEnd(_generation, status);
    }

    /// <summary>Like <see cref="TryEnd(BlockStatus)"/>, saying where the submitter's continuation may run.</summary>
    /// <param name="status">The outcome.</param>
    /// <param name="options">Where the continuation may run (see <see cref="EndOptions"/>).</param>
    /// <returns>Whether this call ended the request.</returns>
    public bool TryEnd(BlockStatus status, EndOptions options)
    {
        ValidateEndStatus(status);
        return _slot is not null && _slot.TryEnd(_generation, status, (options & EndOptions.RunContinuationInline) != 0);
    }

    /// <summary>
    /// Hands the request to its hardware queue's completion context (<c>blk_mq_complete_request</c>): the
    /// driver's <c>Complete</c> callback runs there and ends it. The driver does not own the request again until
    /// that callback.
    /// </summary>
    /// <param name="status">The status, available to the callback as <see cref="CompletionStatus"/>.</param>
    /// <exception cref="InvalidOperationException">The request was already ended or completed.</exception>
    public void Complete(BlockStatus status)
    {
        if (!TryComplete(status))
        {
            ThrowHelper.ThrowAlreadyEnded(_slot.StateWord, _generation);
        }
    }

    /// <summary>Like <see cref="Complete(BlockStatus)"/>, but returns false instead of throwing when the request is no longer owned.</summary>
    /// <param name="status">The status.</param>
    /// <returns>Whether this call handed the request to completion.</returns>
    public bool TryComplete(BlockStatus status)
    {
        ValidateEndStatus(status);
        return _slot is not null && _slot.TryComplete(_generation, status);
    }

    /// <summary>
    /// For a <see cref="RequestOp.ZoneAppend"/>: reports the first sector the data was written at (Linux sets
    /// <c>rq-&gt;__sector</c>), which the submitter's <c>ZoneAppendAsync</c> returns. Call it before ending the
    /// request; the last call before the end wins. The request's <see cref="Sector"/> is not changed.
    /// </summary>
    /// <param name="sector">The sector, in 512-byte units.</param>
    /// <exception cref="InvalidOperationException">The request is not a zone append, or the driver no longer owns it.</exception>
    public void SetResultSector(long sector)
    {
        RequestSlot<TData> slot = Owned();
        var op = (RequestOp)Volatile.Read(ref Unsafe.As<RequestOp, byte>(ref slot._op));
        IRequestCompletion? target = Volatile.Read(ref slot._target);
        long cookie = Volatile.Read(ref slot._cookie);
        StackedDisk? origin = Volatile.Read(ref slot._origin);
        Recheck(slot);
        if (op != RequestOp.ZoneAppend)
        {
            ThrowNotZoneAppend(op);
        }

        // Submitted through stacked disks that shift sectors: the submitter asked in the top disk's sectors.
        if (origin is not null)
        {
            sector -= origin.ChainOffsetSectors;
        }

        // The target belongs to this IO (read between two ownership checks); it ignores a cookie that is not the
        // current one, so a call racing with the request's end never reaches a later append.
        (target as IZoneAppendCompletion)?.OnResultSector(cookie, sector);
    }

    /// <inheritdoc/>
    public override string ToString() =>
        _slot is null ? "Request(none)" : $"Request(hctx {_slot.HwQueueIndex}, tag {_slot.Tag}, generation {_generation})";

    private static void ValidateEndStatus(BlockStatus status)
    {
        if ((uint)status > (uint)BlockStatus.ZoneError) // Busy and ResourceBusy are QueueRq answers, not end statuses; the rest undefined
        {
            ThrowHelper.ThrowInvalidStatus(status);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private RequestSlot<TData> Owned()
    {
        RequestSlot<TData> slot = _slot;
        if (slot is null || !slot.IsOwnedBy(_generation))
        {
            ThrowStale();
        }

        return slot;
    }

    // Seqlock-style second check: a field read (with acquire) between two checks that see the same generation
    // belongs to this IO, because a new IO's fields are written only after its slot's generation was raised.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Recheck(RequestSlot<TData> slot)
    {
        if (!slot.IsOwnedBy(_generation))
        {
            ThrowStale();
        }
    }

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowSegmentIndex(int index, int count) =>
        throw new ArgumentOutOfRangeException(nameof(index), index, $"The request has {count} segments.");

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void ThrowNotZoneAppend(RequestOp op) =>
        throw new InvalidOperationException($"Only a zone append reports a result sector; this request is a {op}.");

    [DoesNotReturn]
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowStale() =>
        ThrowHelper.ThrowStaleRequest(_slot is null ? 0 : _slot.StateWord, _generation);
}
