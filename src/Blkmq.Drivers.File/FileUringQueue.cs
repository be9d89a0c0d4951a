using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Numerics;
using System.Runtime.InteropServices;
using Blkmq.Drivers.File.Interop;
using Blkmq.IoUring;
using Blkmq.IoUring.Interop;

namespace Blkmq.Drivers.File;

/// <summary>
/// The io_uring engine's hardware queue: one ring owned by one thread that both submits and reaps. <c>QueueRq</c>
/// puts the request into a single-producer, single-consumer hand-off ring (the block layer serializes <c>QueueRq</c>
/// per hardware queue, so there is one producer at a time) and, on the batch's last request or <c>CommitRqs</c>,
/// wakes the ring thread if it sleeps; the ring thread turns every handed-off request into an SQE and submits them
/// in steps of at most <see cref="SubmitBatch"/> (never holding prepared SQEs while completions wait), the last step
/// with the same <c>io_uring_enter</c> that waits for completions. Each SQE's <c>user_data</c> is the
/// request's <see cref="RequestToken"/>; a completion finds the request again with
/// <c>TagSet.TryGetRequest(token)</c>; who ends it (and so runs the submitter's continuation) depends on
/// <see cref="FileInlineMode"/>: the queue's <see cref="FileCompletionRunner"/>, the ring thread itself, or the
/// queue's completion context on the thread pool.
/// </summary>
/// <remarks>
/// <para>Wake-up protocol (no lost wake-ups): the ring thread announces it is about to sleep with an interlocked
/// store of <c>_sleeping = 1</c>, then looks at the hand-off ring once more and sleeps in <c>io_uring_enter</c>
/// only if it is empty. A producer publishes its request (release store of the tail), then clears
/// <c>_sleeping</c> with an interlocked compare-exchange; if it was set, it writes the eventfd, on which the ring
/// always keeps a read pending, so the sleeping <c>io_uring_enter</c> returns. Both sides use full fences between
/// their store and their load, so at least one of them sees the other's store.</para>
/// <para><c>inline=auto</c> (the default): the ring thread ends the IOs a pass reaps with
/// <see cref="EndOptions.RunContinuationInline"/> itself, one at a time, as <c>inline=1</c> does below, while the
/// completion runner watches (<see cref="FileCompletionRunner.IsWatching"/>); when the runner is parked or busy the
/// pass goes to the runner, which then watches again. Ownership protocol: the ring belongs to whoever runs <see cref="Run"/> with
/// the generation in the high half of <c>_control</c>; its low half counts entries into and exits from inline
/// continuations (odd: one runs). Only the owner moves an even word (its entry is an interlocked exchange: the full
/// fence orders its ring state before it and the runner's state read after it); the runner, at a tick that finds the
/// same odd word as the tick before (a continuation that ran a whole tick) while an IO waits (in the kernel, in the rest
/// of the continuation's batch, or as a request or cancel in the hand-off ring) or a disposal waits for the loop to
/// end, and the continuation's thread sleeps (or has held the ring for <see cref="RunnableTakeoverTicks"/> ticks),
/// moves it with a CAS to the next generation, ends the rest of the batch through the completion context and starts a
/// new ring thread, which owns the ring from then on. The old owner's exit CAS then fails, and it returns from
/// <see cref="Run"/> without touching the ring again. An IO the continuation waits for is thus served within about two
/// ticks if the continuation blocks on it (ten if it computes), and the queue ends requests
/// on the runner for the next <see cref="InlineSuspendTicks"/> ticks, so a workload of slow continuations pays a
/// takeover at most about ten times a second.</para>
/// <para>With <c>inline=1</c> a completion ends its request with <see cref="EndOptions.RunContinuationInline"/>: the
/// submitter's continuation runs on the ring thread and its next <c>QueueRq</c> lands in the hand-off ring from the
/// ring thread itself, which finds it before it sleeps and submits it with the <c>io_uring_enter</c> that waits for
/// the next completion: one thread and one system call per IO at queue depth 1, as fio's own loop. Such a
/// continuation may also dispose the disk; the ring thread then does not join itself but releases the ring when its
/// loop ends.</para>
/// <para>Buffers are pinned from submission until the completion arrives, whatever became of the request; a timed
/// out request gets an <c>IORING_OP_ASYNC_CANCEL</c> and <see cref="TimeoutAction.WillEnd"/>, and is ended when its
/// own completion (usually <c>-ECANCELED</c>) comes (rule 8).</para>
/// </remarks>
internal sealed unsafe class FileUringQueue : FileHwQueue
{
    private const ulong EventFdUserData = 0;
    private const ulong CancelUserData = 1;

    private readonly FileDisk _disk;
    private readonly IoUringRing _ring;
    private readonly int _eventFd;
    private readonly ulong* _eventBuffer;
    private readonly Request<FileRequest>[] _pending;
    private readonly int _pendingMask;
    private readonly Slot[] _slots;
    private readonly IoVec* _iovecs;
    private readonly ConcurrentQueue<ulong> _cancels = new();
    private readonly int _hwQueueIndex;
    private readonly bool _fixedFiles;
    private readonly bool _inline;
    private readonly bool _inlineWatched;
    private readonly long _spinTicks;
    private readonly FileCompletionRunner? _runner;
    private readonly ulong[] _endedTokens;
    private readonly BlockStatus[] _endedStatuses;
    private int _endedCount;
    private InlineBatch _inlineBatch; // the owner generation's; replaced by the runner when it takes the ring over
    private readonly string _name;

    // Written by the producer (QueueRq) and read by the ring thread; the head only by the ring thread.
    private long _pendingTail;
    private long _pendingHead;
    private int _sleeping;
    private int _inFlight;
    private volatile bool _stopping;

    // The ring's owner generation (high half) and its inline-continuation count (low half, odd while one runs): see
    // the ownership protocol in the summary.
    private long _control;
    private volatile Thread? _ownerThread;
    private int _inlineSuspendTicks; // written by the runner, read by the owner
    private long _watchSeen; // the runner's: the word its last tick found
    private int _stuckTicks; // the runner's: ticks in a row that found the same continuation running with work waiting
    private volatile string? _ownerStatPath; // the owner thread's /proc/self/task/TID/stat, for the runner's look
    private readonly ManualResetEventSlim _loopEnded = new();
    private int _releaseVotes; // the loop's end and Dispose: the second releases the ring
    private int _takeovers;
    private int _batchIosEndedByTakeover;
    private int _watchWanted; // set by the owner when it could not inline for want of a watch; taken by the runner

    /// <summary>
    /// The most SQEs the ring thread prepares before it submits them, while its pass has more to do. One
    /// <c>io_uring_enter</c> per reaped burst (32 IOs at queue depth 32) kept a virtio disk in lockstep: IOs submitted
    /// together completed together and came back together, and the device idled between bursts (0.75-0.85x fio's
    /// IOPS, where fio submits each IO as it reaps it). Eight at a time matched fio at a quarter of its system calls.
    /// </summary>
    internal const int SubmitBatch = 8;

    /// <summary>How long the ring thread polls for the IOs of a batch the completion runner is running (<see cref="FollowBatch"/>).</summary>
    internal const int FollowBatchMicroseconds = 50;

    private static readonly long FollowBatchTicks = FollowBatchMicroseconds * Stopwatch.Frequency / 1_000_000;

    /// <summary>Ticks after a takeover during which the ring thread ends no request inline.</summary>
    internal const int InlineSuspendTicks = 100;

    /// <summary>
    /// Ticks a continuation that is not blocked (running, or runnable but descheduled) may hold the ring while work
    /// waits, before it loses the ring all the same; a blocked one loses it at the first tick that finds it again.
    /// </summary>
    internal const int RunnableTakeoverTicks = 10;

    /// <summary>
    /// Ticks a continuation may hold the ring while no IO the ring can see waits, before it loses the ring all the same
    /// (about 0.1 s: a takeover costs a thread start, and the queue then ends requests on the runner for a while).
    /// </summary>
    internal const int IdleTakeoverTicks = 100;

    public FileUringQueue(FileDisk disk, int hwQueueIndex, int depth, int maxSegments)
    {
        _disk = disk;
        _name = disk.Name;
        _hwQueueIndex = hwQueueIndex;
        int errno = IoUringRing.TryCreate((uint)BitOperations.RoundUpToPowerOf2((uint)depth + 8), out IoUringRing? ring);
        if (ring is null)
        {
            throw new IOException($"{disk.Path}: io_uring_setup failed ({Marshal.GetPInvokeErrorMessage(errno)}).");
        }

        _ring = ring;
        _eventFd = Libc.EventFd(0, Libc.EfdCloexec);
        if (_eventFd < 0)
        {
            errno = Marshal.GetLastPInvokeError();
            ring.Dispose();
            throw new IOException($"{disk.Path}: eventfd failed ({Marshal.GetPInvokeErrorMessage(errno)}).");
        }

        // Registered files save the kernel a file lookup and reference per IO: index 0 buffered, 1 direct.
        ReadOnlySpan<int> files = disk.DirectFd >= 0 ? [disk.Fd, disk.DirectFd] : [disk.Fd];
        _fixedFiles = ring.RegisterFiles(files) == 0;
        _inline = disk.InlineMode == FileInlineMode.Always;
        _inlineWatched = disk.InlineMode == FileInlineMode.Auto;
        _spinTicks = disk.SpinMicroseconds * Stopwatch.Frequency / 1_000_000;

        _eventBuffer = (ulong*)NativeMemory.AllocZeroed(sizeof(ulong));
        _iovecs = (IoVec*)NativeMemory.AllocZeroed((nuint)depth * (nuint)maxSegments, (nuint)sizeof(IoVec));
        _slots = new Slot[depth];
        for (int i = 0; i < depth; i++)
        {
            _slots[i] = new Slot(_iovecs + ((long)i * maxSegments), maxSegments);
        }

        int capacity = (int)BitOperations.RoundUpToPowerOf2((uint)depth);
        _pending = new Request<FileRequest>[capacity];
        _pendingMask = capacity - 1;
        _endedTokens = new ulong[depth];
        _endedStatuses = new BlockStatus[depth];
        _inlineBatch = new InlineBatch(depth);
        _runner = _inline ? null : new FileCompletionRunner(disk, hwQueueIndex, depth, _inlineWatched ? this : null);
        ArmEventFd();
        StartRingThread();
    }

    /// <summary>Gets the most SQEs one <c>io_uring_enter</c> of this queue has submitted (read after the IO is done).</summary>
    internal uint LargestSubmit => _ring.LargestSubmit;

    /// <summary>Gets how many times the completion runner took the ring away from a continuation that ran too long.</summary>
    internal int Takeovers => Volatile.Read(ref _takeovers);

    /// <summary>Gets how many IOs reaped with such a continuation the runner ended when it took the ring away.</summary>
    internal int BatchIosEndedByTakeover => Volatile.Read(ref _batchIosEndedByTakeover);

    /// <summary>
    /// Takes the ring thread's request that the runner watch (it handed reaped IOs to the runner because the runner was
    /// parked or busy, or inlining was paused); the runner's thread only, after a batch.
    /// </summary>
    /// <returns>Whether the ring thread asked since the last call.</returns>
    internal bool TakeWatchRequest() => Volatile.Read(ref _watchWanted) != 0 && Interlocked.Exchange(ref _watchWanted, 0) != 0;

    /// <summary>
    /// Gets whether the calling thread owns the ring now. A ring thread that lost the ring to a takeover keeps its name
    /// and may go on running its continuation's code (and what that code awaits, when it completes synchronously).
    /// </summary>
    internal bool IsOwnerThread => Thread.CurrentThread == _ownerThread;

    /// <summary>Gets whether the ring thread is running a continuation inline (read by the runner before it parks).</summary>
    internal bool IsRunningInline => (Volatile.Read(ref _control) & 1) != 0;

    internal override void Queue(Request<FileRequest> request, bool isLast)
    {
        long tail = _pendingTail;
        Debug.Assert(tail - Volatile.Read(ref _pendingHead) < _pending.Length, "The tag set's depth bounds the hand-off ring.");
        _pending[tail & _pendingMask] = request;
        // Release: the ring thread that sees the new tail sees the request in its slot.
        Volatile.Write(ref _pendingTail, tail + 1);
        if (isLast)
        {
            Wake();
        }
    }

    internal override void Commit() => Wake();

    internal override TimeoutAction Timeout(Request<FileRequest> request)
    {
        ulong token = request.Token.Value;
        FileLog.CancelSubmitted(_disk.Logger, _name, token);
        _cancels.Enqueue(token);
        WakeAlways();
        return TimeoutAction.WillEnd;
    }

    protected override void Dispose(bool disposing)
    {
        _stopping = true;
        WakeAlways();
        if (Thread.CurrentThread != _ownerThread)
        {
            // The runner keeps watching while we wait: an inline continuation that waits for this disposal loses
            // the ring to a new ring thread, whose loop then ends.
            _loopEnded.Wait();
        }

        // Otherwise an inline continuation removed the disk from the ring thread: waiting would wait for ourselves.
        // The loop ends once the call chain returns to it; whichever of the two comes second releases the ring.
        if (Interlocked.Increment(ref _releaseVotes) == 2)
        {
            Release();
        }
        else
        {
            // The ring outlives this call: its references to the disk's files go now, so that the file is closed
            // when the disk's disposal returns (an unmount, a new lock on the image) and not when the call chain
            // returns to the loop. Nothing is in flight (the queue is empty) and nothing more will be started.
            _ring.UnregisterFiles();
        }

        _runner?.Stop();
    }

    /// <summary>
    /// Looks at the ring thread, once per tick of the completion runner (the runner's thread only): takes the ring
    /// away from a continuation that has run inline since the last tick (see the ownership protocol in the summary).
    /// </summary>
    /// <returns>Whether the ring thread ran or runs continuations inline since the last tick (the runner watches on).</returns>
    internal bool Watch()
    {
        long seen = Volatile.Read(ref _control);
        long last = _watchSeen;
        _watchSeen = seen;
        if (_inlineSuspendTicks > 0)
        {
            Volatile.Write(ref _inlineSuspendTicks, _inlineSuspendTicks - 1);
        }

        if ((seen & 1) == 0 || seen != last)
        {
            _stuckTicks = 0;
            return seen != last;
        }

        InlineBatch batch = _inlineBatch;
        if (!HasWork() && !_stopping && Volatile.Read(ref _inFlight) == 0 && Volatile.Read(ref batch.Next) >= batch.Count)
        {
            // A continuation that is slow (or descheduled) while nothing waits for the ring holds up no IO the ring can
            // see: nothing is in the kernel, nothing is left of its batch, and neither the hand-off ring nor the
            // cancels hold work for the ring; nor does a disposal wait for the ring's loop to end. It keeps the ring,
            // but not for ever: an IO on its way to this queue that the ring cannot see yet (a submitter held up
            // elsewhere) may be what it waits for.
            if (++_stuckTicks < IdleTakeoverTicks)
            {
                return true;
            }
        }
        else if (++_stuckTicks < RunnableTakeoverTicks && !IsBlocked(_ownerStatPath))
        {
            // The same continuation ran a whole tick and an IO (in the kernel, in its batch or waiting to be
            // submitted) or a disposal waits. Its thread is runnable: it is computing, or the scheduler keeps it off a
            // CPU on a loaded machine, and will likely return soon (a new ring thread would cost a thread start and
            // wait for a CPU as well). If it sleeps (a wait, a lock, a blocking system call), it may wait for one of
            // those very IOs: the ring goes now.
            return true;
        }

        // The next generation, with no continuation running, owns the ring.
        _stuckTicks = 0;
        long next = (((seen >> 32) + 1) << 32) | (uint)((uint)seen + 1);
        if (Interlocked.CompareExchange(ref _control, next, seen) == seen)
        {
            _watchSeen = next;
            Volatile.Write(ref _inlineSuspendTicks, InlineSuspendTicks);
            Interlocked.Increment(ref _takeovers);
            FileLog.RingTakenOver(_disk.Logger, _name, _hwQueueIndex);

            // The old owner keeps its batch (it claims nothing more once its continuation returns); the new one gets
            // its own, published by the thread start. The rest of the old batch ends here, through the completion
            // context: the held continuation may be waiting for one of them.
            _inlineBatch = new InlineBatch(batch.Tokens.Length);
            int ended = 0;
            for (int index = batch.Claim(); index < batch.Count; index = batch.Claim(), ended++)
            {
                CompleteElsewhere(batch.Tokens[index], batch.Statuses[index]);
            }

            Interlocked.Add(ref _batchIosEndedByTakeover, ended);

            StartRingThread();
        }

        return true;
    }

    /// <summary>
    /// Tells whether a thread of this process sleeps (state other than R in its <c>/proc/self/task/TID/stat</c>). Read
    /// only at a tick that found a continuation holding the ring, never per IO; allocates nothing (the path is made
    /// once per ring thread, the UTF-8 marshalling and the buffer live on the stack).
    /// </summary>
    private static bool IsBlocked(string? statPath)
    {
        if (statPath is null)
        {
            return true;
        }

        int fd = Libc.Open(statPath, Libc.ORdOnly | Libc.OCloexec, 0);
        if (fd < 0)
        {
            return true; // no such thread: nothing to wait for
        }

        Span<byte> stat = stackalloc byte[512];
        nint length;
        fixed (byte* buffer = stat)
        {
            length = Libc.Read(fd, buffer, (nuint)stat.Length);
        }

        _ = Libc.Close(fd);

        // "tid (comm) S ...": comm may hold spaces and parentheses, the state follows the last ')'.
        int close = length > 0 ? stat[..(int)length].LastIndexOf((byte)')') : -1;
        return close < 0 || close + 2 >= length || stat[close + 2] != (byte)'R';
    }

    private void StartRingThread()
    {
        var thread = new Thread(static state => ((FileUringQueue)state!).Run())
        {
            IsBackground = true,
            Name = $"blkmq-uring-{_hwQueueIndex}",
        };
        thread.Start(this);
    }

    private void Release()
    {
        _loopEnded.Dispose();
        _ring.Dispose();
        _ = Libc.Close(_eventFd);
        NativeMemory.Free(_eventBuffer);
        NativeMemory.Free(_iovecs);
    }

    private void Wake()
    {
        // Full fence (interlocked) after the tail store: see the wake-up protocol in the summary.
        if (Interlocked.CompareExchange(ref _sleeping, 0, 1) == 1)
        {
            WriteEventFd();
        }
    }

    private void WakeAlways()
    {
        Interlocked.Exchange(ref _sleeping, 0);
        WriteEventFd();
    }

    private void WriteEventFd()
    {
        ulong one = 1;
        _ = Libc.Write(_eventFd, &one, sizeof(ulong));
    }

    private bool HasWork() => Volatile.Read(ref _pendingTail) != _pendingHead || !_cancels.IsEmpty;

    private void Run()
    {
        // The generation this thread owns the ring in; it was made owner before it started (a full fence).
        long generation = Volatile.Read(ref _control) >> 32;
        _ownerThread = Thread.CurrentThread;
        _ownerStatPath = string.Create(CultureInfo.InvariantCulture, $"/proc/self/task/{Libc.GetTid()}/stat");
        while (true)
        {
            DrainPending();
            DrainCancels();
            if (_ring.Unsubmitted != 0 && _ring.TryPeekCompletion(out _))
            {
                // More completions wait: what is prepared goes to the device before they are reaped (SubmitBatch).
                _ = _ring.Submit(0);
            }

            int ended = Reap();
            if ((Volatile.Read(ref _control) >> 32) != generation)
            {
                // An inline continuation ran too long and the ring went to a new thread: it is not ours to touch.
                return;
            }

            if (_stopping && _inFlight == 0 && !HasWork())
            {
                break;
            }

            if (_ring.TryPeekCompletion(out _))
            {
                continue;
            }

            if (ended > 1 && _runner is { IsRunningBatch: true })
            {
                FollowBatch();
                continue;
            }

            if (ended > 0 && _spinTicks > 0 && SpinForWork())
            {
                continue;
            }

            Interlocked.Exchange(ref _sleeping, 1);
            if (HasWork())
            {
                Interlocked.Exchange(ref _sleeping, 0);
                continue;
            }

            // One system call submits the batch prepared above and sleeps until something completes (an IO, or
            // the eventfd read a producer's wake-up finishes).
            int result = _ring.Submit(1);
            Interlocked.Exchange(ref _sleeping, 0);
            if (result < 0 && -result is not (Errno.EINTR or Errno.EAGAIN or Errno.EBUSY))
            {
                // Not expected from a healthy ring; back off instead of spinning on the error.
                Thread.Sleep(1);
            }
        }

        _loopEnded.Set();
        if (Interlocked.Increment(ref _releaseVotes) == 2)
        {
            Release();
        }
    }

    /// <summary>
    /// Polls for a request or a completion for at most the <c>spin=</c> time, after this thread handed completions
    /// to their submitters: a submitter usually answers with its next IO within microseconds, and finding this thread
    /// awake (<c>_sleeping</c> stays 0) spares it the eventfd write and this thread the wake-up and the extra
    /// <c>io_uring_enter</c> that reaps the eventfd. SQEs prepared meanwhile are published first, so the device is
    /// never kept waiting for the poll.
    /// </summary>
    /// <returns>Whether there is work; false when the time ran out.</returns>
    private bool SpinForWork()
    {
        if (_ring.Unsubmitted != 0)
        {
            _ = _ring.Submit(0);
        }

        long start = Stopwatch.GetTimestamp();
        int round = 0;
        while (!HasWork() && !_ring.TryPeekCompletion(out _))
        {
            if (Stopwatch.GetTimestamp() - start > _spinTicks)
            {
                return false;
            }

            FileCompletionRunner.PollPause(ref round);
        }

        return true;
    }

    /// <summary>
    /// Follows the completion runner through the batch this thread just handed it, for at most
    /// <see cref="FollowBatchMicroseconds"/>: each continuation there usually queues its next IO within microseconds, and
    /// a ring thread found awake needs no eventfd write and no wake-up for it. The IOs go to the kernel as they come,
    /// <see cref="SubmitBatch"/> at a time. Only for batches of more than one IO: at queue depth 1 the poll cost more
    /// CPU per IO than the wake-up it saved. Measured at queue depth 32 on the virtio disk: 0.18-0.31 context switches
    /// per IO before, 0.13-0.22 with it, and 4-20 % less CPU per IO.
    /// </summary>
    private void FollowBatch()
    {
        long start = Stopwatch.GetTimestamp();
        int round = 0;
        while (_runner!.IsRunningBatch && !_ring.TryPeekCompletion(out _))
        {
            if (HasWork())
            {
                DrainPending();
                continue;
            }

            if (Stopwatch.GetTimestamp() - start > FollowBatchTicks)
            {
                return;
            }

            FileCompletionRunner.PollPause(ref round);
        }
    }

    private void ArmEventFd()
    {
        IoUringSqe* sqe = GetSqe();
        sqe->Opcode = IoUringOpcode.Read;
        sqe->Fd = _eventFd;
        sqe->Address = (ulong)_eventBuffer;
        sqe->Length = sizeof(ulong);
        sqe->Offset = ulong.MaxValue; // -1: the file position, as read(2) does (an eventfd has none).
        sqe->UserData = EventFdUserData;
    }

    private IoUringSqe* GetSqe()
    {
        IoUringSqe* sqe = _ring.TryGetSqe();
        while (sqe is null)
        {
            // Cannot happen with the ring sized past the depth, but never overwrite an unsubmitted SQE.
            _ = _ring.Submit(0);
            sqe = _ring.TryGetSqe();
        }

        return sqe;
    }

    private void DrainPending()
    {
        long head = _pendingHead;
        long tail = Volatile.Read(ref _pendingTail);
        while (head != tail)
        {
            Request<FileRequest> request = _pending[head & _pendingMask];
            _pending[head & _pendingMask] = default;
            head++;
            Volatile.Write(ref _pendingHead, head);
            Start(request);
            if (_ring.Unsubmitted >= SubmitBatch)
            {
                _ = _ring.Submit(0);
            }
        }
    }

    private void DrainCancels()
    {
        while (_cancels.TryDequeue(out ulong token))
        {
            IoUringSqe* sqe = GetSqe();
            sqe->Opcode = IoUringOpcode.AsyncCancel;
            sqe->Fd = -1;
            sqe->Address = token;
            sqe->UserData = CancelUserData;
        }
    }

    private void Start(Request<FileRequest> request)
    {
        Slot slot = _slots[request.Tag];
        slot.Token = request.Token.Value;
        slot.Op = request.Op;
        slot.Offset = request.Sector << 9;
        slot.Remaining = request.Length;
        slot.Count = 0;
        slot.First = 0;
        switch (slot.Op)
        {
            case RequestOp.Read:
            case RequestOp.Write:
                slot.Fua = slot.Op == RequestOp.Write && (request.Flags & RequestFlags.Fua) != 0;
                slot.Count = FileIo.Pin(request, slot.Iovecs, slot.Pins);
                slot.Fd = _disk.SelectFd(slot.Iovecs, slot.Count, slot.Offset);
                break;
            case RequestOp.Flush:
                break;
            case RequestOp.Discard when _disk.IsBlockDevice:
                // io_uring has no discard for a block device before 6.12's URING_CMD: the ioctl, here, is rare.
                request.TryEnd(FileIo.Discard(_disk, slot.Offset, slot.Remaining));
                return;
            case RequestOp.WriteZeroes when _disk.IsBlockDevice:
                request.TryEnd(FileIo.WriteZeroes(_disk, slot.Offset, slot.Remaining, request.Flags | RequestFlags.NoUnmap));
                return;
            case RequestOp.Discard:
            case RequestOp.WriteZeroes:
                slot.ZeroFlags = request.Flags & (RequestFlags.NoUnmap | RequestFlags.NoFallback);
                break;
            default:
                request.TryEnd(BlockStatus.NotSupported);
                return;
        }

        _inFlight++;
        Prepare(slot);
    }

    private void Prepare(Slot slot)
    {
        IoUringSqe* sqe = GetSqe();
        sqe->UserData = slot.Token;
        switch (slot.Op)
        {
            case RequestOp.Read:
            case RequestOp.Write:
                SetFile(sqe, slot.Fd);
                sqe->Opcode = slot.Op == RequestOp.Write ? IoUringOpcode.WriteV : IoUringOpcode.ReadV;
                sqe->Address = (ulong)(slot.Iovecs + slot.First);
                sqe->Length = (uint)(slot.Count - slot.First);
                sqe->Offset = (ulong)slot.Offset;
                sqe->OpFlags = slot.Fua ? Libc.RwfDsync : 0u;
                break;
            case RequestOp.Flush:
                SetFile(sqe, _disk.Fd);
                sqe->Opcode = IoUringOpcode.Fsync;
                sqe->OpFlags = IoUringOpcode.FsyncDataSync;
                break;
            default:
                // Discard punches a hole; write zeroes keeps the blocks when asked not to unmap.
                SetFile(sqe, _disk.Fd);
                sqe->Opcode = IoUringOpcode.Fallocate;
                sqe->Offset = (ulong)slot.Offset;
                sqe->Address = (ulong)slot.Remaining;
                sqe->Length = (uint)(slot.Op == RequestOp.WriteZeroes && (slot.ZeroFlags & RequestFlags.NoUnmap) != 0
                    ? Libc.FallocZeroRange | Libc.FallocKeepSize
                    : Libc.FallocPunchHole | Libc.FallocKeepSize);
                break;
        }
    }

    private void SetFile(IoUringSqe* sqe, int fd)
    {
        if (_fixedFiles)
        {
            sqe->Fd = fd == _disk.Fd ? 0 : 1;
            sqe->Flags |= IoUringOpcode.SqeFixedFile;
        }
        else
        {
            sqe->Fd = fd;
        }
    }

    /// <summary>Takes every completion the kernel posted; returns how many IOs it handed back to their submitters.</summary>
    private int Reap()
    {
        int ended = 0;
        while (_ring.TryPeekCompletion(out IoUringCqe cqe))
        {
            _ring.AdvanceCompletion();
            if (cqe.UserData == EventFdUserData)
            {
                if (!_stopping)
                {
                    ArmEventFd();
                }

                continue;
            }

            if (cqe.UserData == CancelUserData)
            {
                // The cancel's own result (found, -ENOENT, -EALREADY) does not matter: the IO's completion ends it.
                continue;
            }

            ended += Complete(cqe.UserData, cqe.Result) ? 1 : 0;
        }

        Deliver();
        return ended;
    }

    /// <summary>Finishes one IO's completion: resubmits the rest of a short transfer, or ends the request.</summary>
    /// <returns>Whether the IO ended (false: resubmitted).</returns>
    private bool Complete(ulong token, int result)
    {
        Slot slot = _slots[new RequestToken(token).Tag];
        Debug.Assert(slot.Token == token, "A completion names the IO its tag's slot holds.");
        BlockStatus status;
        switch (slot.Op)
        {
            case RequestOp.Read:
            case RequestOp.Write:
                if (result > 0 && result < slot.Remaining)
                {
                    // Short transfer: go on with the rest.
                    slot.Remaining -= result;
                    slot.Offset += result;
                    slot.First = FileIo.Advance(slot.Iovecs, slot.First, slot.Count, result);
                    Prepare(slot);
                    return false;
                }

                if (result is -Errno.EAGAIN or -Errno.EINTR)
                {
                    Prepare(slot);
                    return false;
                }

                FileIo.Unpin(slot.Pins, slot.Count);
                slot.Count = 0;
                status = result < 0 ? FileStatus.FromErrno(-result) : result == 0 ? BlockStatus.IoError : BlockStatus.Ok;
                break;
            case RequestOp.Discard:
                status = result is 0 or -Errno.EOPNOTSUPP ? BlockStatus.Ok : FileStatus.FromErrno(-result);
                break;
            case RequestOp.WriteZeroes:
                // A file system without this fallocate mode (tmpfs has no ZERO_RANGE): the synchronous fallbacks.
                status = result == -Errno.EOPNOTSUPP
                    ? FileIo.WriteZeroes(_disk, slot.Offset, slot.Remaining, slot.ZeroFlags)
                    : result < 0 ? FileStatus.FromErrno(-result) : BlockStatus.Ok;
                break;
            default:
                status = result < 0 ? FileStatus.FromErrno(-result) : BlockStatus.Ok;
                break;
        }

        _inFlight--;
        if (_disk.TagSet.TryGetRequest(new RequestToken(token), out Request<FileRequest> request))
        {
            if (_inline)
            {
                request.TryEnd(status, EndOptions.RunContinuationInline);
                if (Volatile.Read(ref _pendingTail) - _pendingHead >= SubmitBatch)
                {
                    // The continuations of a long burst queued their next IOs: start them before reaping the rest.
                    DrainPending();
                }
            }
            else
            {
                // Ended with the rest of what this pass reaps (Deliver): by the completion runner, or the thread pool.
                Debug.Assert(_endedCount < _endedTokens.Length, "at most one IO per tag is in flight");
                _endedTokens[_endedCount] = token;
                _endedStatuses[_endedCount] = status;
                _endedCount++;
            }
        }

        return true;
    }

    /// <summary>
    /// Ends the IOs this pass reaped: with <c>inline=auto</c> on this thread while the completion runner watches
    /// (<see cref="EndInline"/>); otherwise, or what is left when the runner stopped watching, the completion runner
    /// takes them all when it is idle, else each goes to the queue's completion context (<c>TryComplete</c>), whose
    /// stack turns the burst into one thread-pool work item that resumes the submitters (ends made here would queue
    /// one work item per IO).
    /// </summary>
    private void Deliver()
    {
        int count = _endedCount;
        if (count == 0)
        {
            return;
        }

        _endedCount = 0;
        if (_inlineWatched)
        {
            if (Volatile.Read(ref _inlineSuspendTicks) == 0)
            {
                count = EndInline(count);
                if (count == 0)
                {
                    return;
                }
            }

            // Paused after a takeover, or the runner was parked (or busy): the rest goes to the runner, and this asks
            // it to watch afterwards (its ticks also count the pause down).
            Volatile.Write(ref _watchWanted, 1);
        }

        if (_runner!.TryHandOff(_endedTokens.AsSpan(0, count), _endedStatuses.AsSpan(0, count)))
        {
            return;
        }

        for (int i = 0; i < count; i++)
        {
            CompleteElsewhere(_endedTokens[i], _endedStatuses[i]);
        }
    }

    /// <summary>
    /// Ends the IOs this pass reaped on this thread, one at a time, running each submitter's continuation here
    /// (<c>inline=auto</c>), while the completion runner watches; see the ownership protocol in the summary. Each IO
    /// is claimed from the generation's <see cref="InlineBatch"/>, so a runner that takes the ring away from a
    /// continuation ends the rest of the batch (which that continuation may be waiting for). After this returns the
    /// ring may belong to another thread (the caller checks the generation).
    /// </summary>
    /// <param name="count">How many IOs the pass reaped (in <c>_endedTokens</c> and <c>_endedStatuses</c>).</param>
    /// <returns>How many IOs are left for the caller to hand over as usual, moved to the front of
    /// <c>_endedTokens</c>: those not ended when the runner does not watch; 0 when all were ended, or when the ring
    /// was taken over (the runner ended the rest).</returns>
    private int EndInline(int count)
    {
        InlineBatch batch = _inlineBatch;
        _endedTokens.AsSpan(0, count).CopyTo(batch.Tokens);
        _endedStatuses.AsSpan(0, count).CopyTo(batch.Statuses);
        batch.Count = count;
        batch.Next = 0; // both published to the runner by the interlocked entry below
        long control = Volatile.Read(ref _control);
        while (true)
        {
            // Only the owner moves an even word; the exchange is a full fence (Dekker with the runner's move to Parked).
            long entered = Step(control);
            Interlocked.Exchange(ref _control, entered);
            bool watched = _runner!.IsWatching;
            int index = watched ? batch.Claim() : batch.Count;
            if (index < batch.Count)
            {
                if (_disk.TagSet.TryGetRequest(new RequestToken(batch.Tokens[index]), out Request<FileRequest> request))
                {
                    // The submitter's continuation runs here; its next QueueRq finds this thread awake (no eventfd write).
                    request.TryEnd(batch.Statuses[index], EndOptions.RunContinuationInline);
                }
            }

            control = Step(entered);
            if (Interlocked.CompareExchange(ref _control, control, entered) != entered)
            {
                return 0; // the runner took the ring meanwhile, and ended what was left of the batch
            }

            if (!watched)
            {
                // Parked or busy: the IOs not ended yet go the usual way.
                int left = 0;
                while ((index = batch.Claim()) < batch.Count)
                {
                    _endedTokens[left] = batch.Tokens[index];
                    _endedStatuses[left] = batch.Statuses[index];
                    left++;
                }

                return left;
            }

            if (index >= batch.Count)
            {
                return 0;
            }

            if (Volatile.Read(ref _pendingTail) - _pendingHead >= SubmitBatch)
            {
                // The continuations of a long burst queued their next IOs: start them before ending the rest.
                DrainPending();
            }
        }
    }

    /// <summary>The control word with its inline count one further (the generation unchanged).</summary>
    private static long Step(long control) => (control & unchecked((long)0xFFFF_FFFF_0000_0000)) | (uint)((uint)control + 1);

    private void CompleteElsewhere(ulong token, BlockStatus status)
    {
        if (_disk.TagSet.TryGetRequest(new RequestToken(token), out Request<FileRequest> request))
        {
            request.TryComplete(status);
        }
    }

    /// <summary>
    /// The IOs one pass reaped that the ring thread ends itself (<c>inline=auto</c>): written by the owner before
    /// its interlocked entry into the first continuation, then claimed one at a time, by the owner or, when the runner
    /// takes the ring away from a continuation, by the runner (which ends the rest).
    /// </summary>
    private sealed class InlineBatch(int capacity)
    {
        public readonly ulong[] Tokens = new ulong[capacity];
        public readonly BlockStatus[] Statuses = new BlockStatus[capacity];
        public int Count;
        public int Next;

        /// <summary>Claims the next IO of the batch; at least <see cref="Count"/> when none is left.</summary>
        public int Claim() => Interlocked.Increment(ref Next) - 1;
    }

    /// <summary>What one tag's IO needs while the kernel has it; touched only by the ring thread.</summary>
    private sealed class Slot
    {
        public Slot(IoVec* iovecs, int maxSegments)
        {
            Iovecs = iovecs;
            Pins = new MemoryHandle[maxSegments];
        }

        public IoVec* Iovecs { get; }

        public MemoryHandle[] Pins { get; }

        public ulong Token { get; set; }

        public RequestOp Op { get; set; }

        public bool Fua { get; set; }

        /// <summary>Gets or sets a write zeroes' <see cref="RequestFlags.NoUnmap"/> and <see cref="RequestFlags.NoFallback"/>.</summary>
        public RequestFlags ZeroFlags { get; set; }

        public int Fd { get; set; }

        public int Count { get; set; }

        public int First { get; set; }

        public long Offset { get; set; }

        public long Remaining { get; set; }
    }
}
