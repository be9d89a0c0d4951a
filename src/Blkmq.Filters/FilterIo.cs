using System.Runtime.CompilerServices;

namespace Blkmq.Filters;

/// <summary>
/// One tag slot's state in a filter disk (the per-request data of <see cref="FilterDriver"/>), made once per tag and
/// reused by every IO of that tag: the upper request's handle and what it asks for, and the awaiter of the IO this
/// filter submitted to the disk below (device-mapper's clone). Nothing here is allocated per IO: the continuation that
/// takes the lower IO's status is one delegate made with the slot.
/// </summary>
/// <remarks>
/// Protocol: <see cref="FilterDriver.QueueRq"/> fills the fields and hands the IO to the filter; the filter either
/// ends it (<see cref="End"/>), forwards it below (<see cref="Forward()"/>: its <see cref="BlockFilter.OnForwarded"/>
/// then gets the lower status, on whichever thread ended the lower IO), or parks it and forwards or ends it later
/// (a timer: <see cref="BlockFilter.OnTimer"/>). Exactly one of those paths ends the upper request; the handle's
/// generation makes a late second end a no-op (rule 1).
/// </remarks>
internal sealed class FilterIo
{
    [ThreadStatic]
    private static bool t_inLowerCompletion;

    private readonly Action _onLowerCompleted;
    private ConfiguredValueTaskAwaitable<BlockStatus>.ConfiguredValueTaskAwaiter _awaiter;

    public FilterIo()
    {
        _onLowerCompleted = OnLowerCompleted;
    }

    /// <summary>Gets the upper request's handle (dead once the request ended).</summary>
    public Request<FilterRequestData> Request { get; private set; }

    /// <summary>Gets the filter disk the IO is for.</summary>
    public FilterDisk Disk { get; private set; } = null!;

    /// <summary>Gets the operation.</summary>
    public RequestOp Op { get; private set; }

    /// <summary>Gets the flags.</summary>
    public RequestFlags Flags { get; private set; }

    /// <summary>Gets the byte offset on the filter disk.</summary>
    public long Offset { get; private set; }

    /// <summary>Gets the length in bytes.</summary>
    public int Length { get; private set; }

    /// <summary>Gets the data buffer (read: filled; write: read), empty for data-less operations.</summary>
    public Memory<byte> Buffer { get; private set; }

    /// <summary>Gets or sets a timestamp a filter keeps for the IO (its start, or when it may go).</summary>
    public long Timestamp { get; set; }

    /// <summary>Gets or sets a value a filter keeps for the IO between its callbacks.</summary>
    public long Scratch { get; set; }

    /// <summary>
    /// Gets or sets what the filter keeps with this slot from one IO to the next (made on the slot's first IO, never
    /// cleared): per-slot counters written without atomics, since one slot serves one IO at a time.
    /// </summary>
    public object? SlotState { get; set; }

    /// <summary>Fills the slot for a new IO; called by the driver, inside <c>QueueRq</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Start(FilterDisk disk, Request<FilterRequestData> request)
    {
        Disk = disk;
        Request = request;
        Op = request.Op;
        Flags = request.Flags;
        Offset = request.Sector << 9;
        Length = request.Length;
        Buffer = request.Op is RequestOp.Read or RequestOp.Write or RequestOp.ZoneAppend ? request.Segments[0] : default;
        Timestamp = 0;
        Scratch = 0;
    }

    /// <summary>Ends the upper request with <paramref name="status"/>; false when it already ended (a timeout, a removal).</summary>
    /// <param name="status">The status.</param>
    /// <returns>Whether this call ended it.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool End(BlockStatus status) =>
        // Inside the lower IO's continuation the thread already is the submitter's (the pool, or the lower block
        // layer's completion context): run the upper submitter there too instead of hopping once more. Elsewhere (a
        // filter's timer) the block layer hands it to the thread pool, as rule 10 wants.
        t_inLowerCompletion ? Request.TryEnd(status, EndOptions.RunContinuationInline) : Request.TryEnd(status);

    /// <summary>Sends the IO, unchanged, to the disk below.</summary>
    public void Forward() => Forward(Op, Flags, Offset, Length, Buffer);

    /// <summary>Sends the IO to the disk below at another offset (offset, partition).</summary>
    /// <param name="lowerOffset">The byte offset on the lower disk.</param>
    public void Forward(long lowerOffset) => Forward(Op, Flags, lowerOffset, Length, Buffer);

    /// <summary>
    /// Submits one IO to the disk below; its status reaches <see cref="BlockFilter.OnForwarded"/>, at once when the
    /// lower IO finished at submission, else on the thread that ended it.
    /// </summary>
    /// <param name="op">The operation.</param>
    /// <param name="flags">The flags (FUA and no-unmap are kept; others are the lower device's business).</param>
    /// <param name="offset">The byte offset below.</param>
    /// <param name="length">The length in bytes.</param>
    /// <param name="buffer">The data, for reads and writes.</param>
    public void Forward(RequestOp op, RequestFlags flags, long offset, int length, Memory<byte> buffer)
    {
        BlockDevice device = Disk.Lower;
        ValueTask<BlockStatus> io = op switch
        {
            RequestOp.Read => device.ReadStatusAsync(offset, buffer),
            RequestOp.Write => device.WriteStatusAsync(offset, buffer, flags & RequestFlags.Fua),
            RequestOp.Flush => device.FlushStatusAsync(),
            RequestOp.Discard => device.DiscardStatusAsync(offset, length),
            RequestOp.WriteZeroes => device.WriteZeroesStatusAsync(offset, length, mayUnmap: (flags & RequestFlags.NoUnmap) == 0, noFallback: (flags & RequestFlags.NoFallback) != 0),
            RequestOp.ZoneAppend or RequestOp.ZoneOpen or RequestOp.ZoneClose or RequestOp.ZoneFinish or RequestOp.ZoneReset or RequestOp.ZoneResetAll
                => ForwardZoneAsync(op, flags & RequestFlags.Fua, offset, buffer),
            _ => new ValueTask<BlockStatus>(BlockStatus.NotSupported),
        };

        if (io.IsCompleted)
        {
            Disk.Filter.OnForwarded(this, io.Result);
            return;
        }

        // The lower IO's source is the lower request's pooled completion: awaiting it through a delegate made once per
        // slot allocates nothing. UnsafeOnCompleted: no execution context flows to a device's thread.
        _awaiter = io.ConfigureAwait(false).GetAwaiter();
        _awaiter.UnsafeOnCompleted(_onLowerCompleted);
    }

    // Zone operations (a filter over a zoned disk): an append learns where its data went below and reports it up, at
    // the same sector, since a filter over a zoned disk maps it 1:1. The device's zone calls throw on failure, so this
    // path costs an async state machine per zone operation and an exception per failed one.
    private async ValueTask<BlockStatus> ForwardZoneAsync(RequestOp op, RequestFlags flags, long offset, Memory<byte> buffer)
    {
        try
        {
            if (op == RequestOp.ZoneAppend)
            {
                long written = await Disk.Lower.ZoneAppendAsync(offset, buffer, flags).ConfigureAwait(false);
                Request.SetResultSector(written >> 9);
            }
            else
            {
                await Disk.Lower.ZoneManagementAsync(op, offset).ConfigureAwait(false);
            }

            return BlockStatus.Ok;
        }
        catch (BlockIOException ex)
        {
            return ex.Status;
        }
        catch (ArgumentException)
        {
            // Checked above already (a zone start inside the disk); the disk below disagreeing is its own refusal.
            return BlockStatus.Invalid;
        }
    }

    private void OnLowerCompleted()
    {
        BlockStatus status = _awaiter.GetResult();
        _awaiter = default;
        bool outer = t_inLowerCompletion;
        t_inLowerCompletion = true;
        try
        {
            Disk.Filter.OnForwarded(this, status);
        }
        finally
        {
            t_inLowerCompletion = outer;
        }
    }
}
