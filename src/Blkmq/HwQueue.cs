using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;

namespace Blkmq;

/// <summary>
/// One hardware queue (hctx) of one disk: dispatches requests to the driver, a struct type argument, so that
/// every driver call is a direct, inlinable call; optional driver members are skipped by constant flags.
/// </summary>
internal sealed class HwQueue<TDriver, TData, THw, TDisk> : HwQueueBase
    where TDriver : struct, IBlockDriver<TData, THw, TDisk>
{
    private readonly Lock _listLock = new();
    private readonly List<(RequestSlot<TData> Slot, long Generation)> _dispatchList = [];
    private readonly List<(RequestSlot<TData> Slot, long Generation)> _runBuffer = [];
    private readonly TDisk _diskData;
    private readonly ILogger _logger;
    private readonly BlockClock _clock;
    private readonly long _timeoutTicks;
    private readonly RequestSlot<TData>[] _slots;

    // Mutable struct: not readonly, or each call would run on a defensive copy.
    private TDriver _driver;
    private THw _data;

    public HwQueue(Disk disk, TagSet<TDriver, TData, THw, TDisk> tagSet, TDisk diskData, int index, bool isPoll, THw data)
        : base(disk, tagSet.Tags[index], index, isPoll)
    {
        _driver = tagSet.Driver;
        _diskData = diskData;
        _data = data;
        _slots = tagSet.Slots[index];
        _logger = tagSet.Logger;
        _clock = tagSet.Clock;
        _timeoutTicks = tagSet.TimeoutTicks;
    }

    public RequestSlot<TData>[] Slots => _slots;

    /// <summary>
    /// Dispatches one newly submitted request from its submitter: the fast path. Returns
    /// <see cref="Submission.Rejected"/> when the disk's gate closed (freeze, removal); the caller still owns
    /// the prepared slot then.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Submission SubmitDirect(RequestSlot<TData> slot, long generation, short token)
    {
        if (Volatile.Read(ref _dispatchListCount) != 0 || (IsBlocking && IsCompletionContext))
        {
            // Behind requests already waiting; and a blocking driver's QueueRq never runs on a completion, timeout
            // or poll context (it may sleep there): the dispatch work runs it instead.
            return QueueBehindDispatchList(slot, generation, token);
        }

        // Read before dispatch: once the driver has the request, a completion elsewhere may recycle the slot.
        bool direct = slot._target is null;
        DispatchOutcome outcome = DispatchCore(slot, generation, isLast: true, slot._startTimestamp, checkGate: true);
        if (outcome == DispatchOutcome.Taken)
        {
            return direct ? Submission.Pending(slot, token) : Submission.Callback();
        }

        if (outcome == DispatchOutcome.EndedInline)
        {
            BlockStatus status = slot.CollectInline();
            slot.Release();
            return Submission.Done(status);
        }

        if (outcome is DispatchOutcome.GateClosed or DispatchOutcome.WriteGated)
        {
            return Submission.Rejected();
        }

        AddToDispatchList(slot, generation, front: false);
        if (outcome == DispatchOutcome.Busy)
        {
            ArmRestart();
        }
        else
        {
            // Refused (quiesced): an unquiesce that ran its queue before the request was listed must not leave it
            // there; a run while still quiesced takes nothing.
            RequestRun();
        }

        return direct ? Submission.Pending(slot, token) : Submission.Callback();
    }

    /// <summary>
    /// Dispatches a plugged batch in order, the last with <c>isLast</c>; requests ended inline are published to
    /// their targets. Requests the driver refuses go, with everything after them, to the dispatch list.
    /// </summary>
    public void DispatchBatch(ReadOnlySpan<(RequestSlot<TData> Slot, long Generation)> batch)
    {
        if (Volatile.Read(ref _dispatchListCount) != 0 || (IsBlocking && IsCompletionContext))
        {
            foreach ((RequestSlot<TData> slot, long generation) in batch)
            {
                AddToDispatchList(slot, generation, front: false);
            }

            RequestRun();
            return;
        }

        DispatchList(batch, fromList: false);
    }

    public override int Poll()
    {
        if (!DriverTraits<TDriver, TData, THw, TDisk>.HasPoll)
        {
            return 0;
        }

        try
        {
            return _driver.Poll(ref _data, _diskData);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            BlkmqLog.DriverCallbackThrew(_logger, ex, nameof(IBlockDriver<,,>.Poll), Disk.Name, Index);
            return 0;
        }
    }

    public override bool HandleTimeout(RequestSlot slot, long generation, BlockStatus status)
    {
        // The slot is TimingOut: an end or completion by the driver from now on is only recorded, and acted on by
        // TrySettleTimeout below, so these fields are this IO's until then.
        var typed = (RequestSlot<TData>)slot;
        RequestOp op = slot._op;
        long sector = slot._sector;
        TimeoutAction action = TimeoutAction.Done;
        if (DriverTraits<TDriver, TData, THw, TDisk>.HasTimeout)
        {
            EnterCallback();
            try
            {
                action = _driver.Timeout(_diskData, new Request<TData>(typed, generation));
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                BlkmqLog.DriverCallbackThrew(_logger, ex, nameof(IBlockDriver<,,>.Timeout), Disk.Name, Index);
            }
            finally
            {
                ExitCallback();
            }

            if (action is not (TimeoutAction.Done or TimeoutAction.ResetTimer or TimeoutAction.WillEnd))
            {
                action = TimeoutAction.Done;
            }
        }

        if (!slot.TrySettleTimeout(generation, action, _clock.Now() + _timeoutTicks, status))
        {
            return false;
        }

        BlkmqLog.RequestTimedOut(_logger, Disk.Name, Index, slot.Tag, op, sector);
        return true;
    }

    public override int FailDispatchList(BlockStatus status, StackedDisk? origin = null)
    {
        // Not the run buffer: the work item may be using it right now. Removal is a slow path; a copy is fine.
        (RequestSlot<TData> Slot, long Generation)[] held;
        lock (_listLock)
        {
            if (origin is null)
            {
                held = [.. _dispatchList];
                _dispatchList.Clear();
            }
            else
            {
                // A stacked disk's removal fails only what was submitted through it; the rest keeps its place.
                held = [.. _dispatchList.Where(entry => origin.OwnsSlot(entry.Slot))];
                _dispatchList.RemoveAll(entry => origin.OwnsSlot(entry.Slot));
            }

            Volatile.Write(ref _dispatchListCount, _dispatchList.Count);
        }

        foreach ((RequestSlot<TData> slot, long generation) in held)
        {
            slot.EndByBlockLayer(generation, status, publish: true);
        }

        return held.Length;
    }

    public override void Exit()
    {
        DisposeTimer();
        if (DriverTraits<TDriver, TData, THw, TDisk>.HasExitHctx)
        {
            try
            {
                _driver.ExitHctx(ref _data, _diskData);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                BlkmqLog.DriverCallbackThrew(_logger, ex, nameof(IBlockDriver<,,>.ExitHctx), Disk.Name, Index);
            }
        }
    }

    protected override void InvokeComplete(RequestSlot slot)
    {
        var typed = (RequestSlot<TData>)slot;
        if (!slot.TryBeginCompleteCallback(out long generation))
        {
            return;
        }

        if (!DriverTraits<TDriver, TData, THw, TDisk>.HasComplete)
        {
            slot.TryEnd(generation, slot.CompletionStatus);
            return;
        }

        EnterCallback();
        try
        {
            _driver.Complete(_diskData, new Request<TData>(typed, generation));
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            BlkmqLog.DriverCallbackThrew(_logger, ex, nameof(IBlockDriver<,,>.Complete), Disk.Name, Index);
            slot.TryEnd(generation, BlockStatus.IoError);
        }
        finally
        {
            ExitCallback();
        }

        if (slot.TryEnd(generation, BlockStatus.IoError))
        {
            BlkmqLog.CompleteDidNotEnd(_logger, Disk.Name);
        }
    }

    protected override void RunDispatchList()
    {
        lock (_listLock)
        {
            if (_dispatchList.Count == 0 || Disk.IsQuiesced)
            {
                return;
            }

            _runBuffer.Clear();
            _runBuffer.AddRange(_dispatchList);
            _dispatchList.Clear();
            Volatile.Write(ref _dispatchListCount, 0);
        }

        // Only the single work item runs this, so the run buffer is not shared.
        DispatchList(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_runBuffer), fromList: true);
        _runBuffer.Clear();
    }

    private void DispatchList(ReadOnlySpan<(RequestSlot<TData> Slot, long Generation)> batch, bool fromList)
    {
        long now = _clock.Now();
        bool lastQueuedWasLast = true;
        for (int i = 0; i < batch.Length; i++)
        {
            (RequestSlot<TData> slot, long generation) = batch[i];
            bool isLast = i == batch.Length - 1;
            DispatchOutcome outcome = DispatchCore(slot, generation, isLast, now, checkGate: false);
            if (outcome == DispatchOutcome.Taken)
            {
                lastQueuedWasLast = isLast;
                continue;
            }

            if (outcome == DispatchOutcome.EndedInline)
            {
                lastQueuedWasLast = isLast;
                slot.PublishInline();
                continue;
            }

            // Busy or quiesced: this request and all after it wait, in order, ahead of anything newer.
            lock (_listLock)
            {
                int position = fromList ? 0 : _dispatchList.Count;
                for (int j = i; j < batch.Length; j++)
                {
                    _dispatchList.Insert(position++, batch[j]);
                }

                Volatile.Write(ref _dispatchListCount, _dispatchList.Count);
            }

            if (!lastQueuedWasLast)
            {
                CommitRqs();
            }

            if (outcome == DispatchOutcome.Busy)
            {
                ArmRestart();
            }

            return;
        }
    }

    private void CommitRqs()
    {
        if (!DriverTraits<TDriver, TData, THw, TDisk>.HasCommitRqs)
        {
            return;
        }

        // A callback removal waits for: the requests of this batch may all have been failed by a removal already,
        // which then exits the queue; CommitRqs must not reach a driver whose ExitHctx ran.
        if (!TryEnterCallback())
        {
            return;
        }

        bool locked = !DriverTraits<TDriver, TData, THw, TDisk>.ConcurrentQueueRq && EnterDispatchLock();
        try
        {
            _driver.CommitRqs(ref _data, _diskData);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            BlkmqLog.DriverCallbackThrew(_logger, ex, nameof(IBlockDriver<,,>.CommitRqs), Disk.Name, Index);
        }
        finally
        {
            if (locked)
            {
                ExitDispatchLock();
            }

            ExitCallback();
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private DispatchOutcome DispatchCore(RequestSlot<TData> slot, long generation, bool isLast, long now, bool checkGate)
    {
        bool begun = slot.TryBeginDispatch(generation, now + _timeoutTicks);
        System.Diagnostics.Debug.Assert(begun, "dispatching a request the block layer does not own");

        // Dekker pairs with FreezeAsync / RemoveAsync (the gate), QuiesceAsync and an exclusive range hold (the
        // write gate): our CAS above is a full fence before these reads, theirs a full fence before they scan the
        // slots; one of us sees the other. Only a new submission checks the gates: what was admitted before a
        // freeze or an exclusive hold must still be dispatched.
        //
        // Each flag is read once: the outcome must name the gate that was seen. Read again, a gate that opened in
        // between made the outcome Refused, and a new submission that is Refused goes to the dispatch list with no
        // run to take it from there (a write that met a short exclusive hold then waited for ever).
        //
        // A new request submitted through stacked disks (origin) is also turned back while one of them is frozen,
        // removed or quiesced: the same fence orders its Prepared write (which names the origin) before these reads.
        // It then waits in the submitter's slow path, not on this queue, so a quiesced stacked disk never holds up
        // the IO of the disk below; what a stacked disk has handed below is this disk's to dispatch.
        StackedDisk? origin = slot._origin;
        if (Disk.IsQuiesced)
        {
            slot.TryUndoDispatch(generation);
            return DispatchOutcome.Refused;
        }

        if (checkGate)
        {
            bool gateClosed = Disk.IsGateClosed() || (origin is not null && origin.IsChainHeld());
            if (gateClosed || (slot._unrecordedWrite && (Disk.StreamLock.IsExclusiveWanted || (origin is not null && origin.IsChainExclusiveWanted()))))
            {
                slot.TryUndoDispatch(generation);
                return gateClosed ? DispatchOutcome.GateClosed : DispatchOutcome.WriteGated;
            }
        }

        BlockStatus status;
        HwQueueBase? outer = BeginDispatch();
        DispatchOutcome outcome;
        try
        {
            // Rule 9: one QueueRq at a time per queue unless the driver declared otherwise (a constant per driver).
            bool locked = !DriverTraits<TDriver, TData, THw, TDisk>.ConcurrentQueueRq && EnterDispatchLock();
            try
            {
                status = _driver.QueueRq(ref _data, _diskData, new Request<TData>(slot, generation), isLast);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                BlkmqLog.DriverCallbackThrew(_logger, ex, nameof(IBlockDriver<,,>.QueueRq), Disk.Name, Index);
                status = BlockStatus.IoError;
            }
            finally
            {
                if (locked)
                {
                    ExitDispatchLock();
                }
            }

            outcome = status == BlockStatus.Ok
                ? (slot.FinishDispatch(generation) == RequestState.EndedInline ? DispatchOutcome.EndedInline : DispatchOutcome.Taken)
                : DispatchFailed(slot, generation, status);
        }
        finally
        {
            // Runs the Complete callbacks of requests the driver completed inside QueueRq, now that the
            // dispatcher has settled the state; a completion of this very request makes its ValueTask ready.
            EndDispatch(outer);
        }

        return outcome;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private DispatchOutcome DispatchFailed(RequestSlot<TData> slot, long generation, BlockStatus status)
    {
        if (status is BlockStatus.Busy or BlockStatus.ResourceBusy)
        {
            if (Disk.IsRemoved)
            {
                // Removal drains: a request the driver will not take now is failed instead of waiting for a
                // restart that would only be refused again.
                status = BlockStatus.Offline;
            }
            else if (slot.TryUndoDispatch(generation))
            {
                return DispatchOutcome.Busy;
            }
            else
            {
                // The driver ended or completed the request and still said busy: the end stands.
                BlkmqLog.BusyAfterEnd(_logger, status, Disk.Name);
                return slot.FinishDispatch(generation) == RequestState.EndedInline ? DispatchOutcome.EndedInline : DispatchOutcome.Taken;
            }
        }

        if ((uint)status > (uint)BlockStatus.ZoneError) // not a status at all (Busy was handled above)
        {
            BlkmqLog.UnknownStatus(_logger, (int)status, Disk.Name);
            status = BlockStatus.IoError;
        }

        // An error return ends the request with that status, unless the driver already ended it itself.
        slot.TryEnd(generation, status);
        return slot.FinishDispatch(generation) == RequestState.EndedInline ? DispatchOutcome.EndedInline : DispatchOutcome.Taken;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private Submission QueueBehindDispatchList(RequestSlot<TData> slot, long generation, short token)
    {
        // The freeze handshake needs a full fence between the slot's Prepared write and the gate read.
        Interlocked.MemoryBarrier();
        StackedDisk? origin = slot._origin;
        if (Disk.IsGateClosed() || (origin is not null && origin.IsChainHeld())
            || (slot._unrecordedWrite && (Disk.StreamLock.IsExclusiveWanted || (origin is not null && origin.IsChainExclusiveWanted()))))
        {
            return Submission.Rejected();
        }

        AddToDispatchList(slot, generation, front: false);
        RequestRun();
        return slot._target is null ? Submission.Pending(slot, token) : Submission.Callback();
    }

    private void AddToDispatchList(RequestSlot<TData> slot, long generation, bool front)
    {
        lock (_listLock)
        {
            if (front)
            {
                _dispatchList.Insert(0, (slot, generation));
            }
            else
            {
                _dispatchList.Add((slot, generation));
            }

            Volatile.Write(ref _dispatchListCount, _dispatchList.Count);
        }
    }

    private enum DispatchOutcome
    {
        Taken,
        EndedInline,
        Busy,
        Refused,
        GateClosed,
        WriteGated,
    }
}
