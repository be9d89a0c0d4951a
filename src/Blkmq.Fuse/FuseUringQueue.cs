using System.Runtime.InteropServices;
using Blkmq.Fuse.Interop;
using Blkmq.IoUring;
using Blkmq.IoUring.Interop;
using Blkmq.Metrics;

namespace Blkmq.Fuse;

/// <summary>
/// One queue of FUSE over io_uring (the kernel has one per possible CPU and sends a request to the queue of the CPU
/// it was made on): a ring with 128-byte SQEs, owned by one thread that registers the entries, serves each request
/// the kernel puts in an entry's buffers and commits its reply with <c>COMMIT_AND_FETCH</c>, which also waits for the
/// entry's next request.
/// </summary>
/// <remarks>
/// <para>A request whose disk IO completes inline is committed at once. One that does not is left with its entry;
/// the IO's completion, on whatever thread completes it, pushes the entry on a lock-free stack and, when the stack
/// was empty, writes the queue's eventfd, on which the ring always has a read pending: that read's completion wakes
/// the ring thread, which takes the whole stack and commits each reply. A push that finds the stack non-empty does
/// not write: the push that made it non-empty did, and the ring thread takes the stack only after that read's
/// completion, so no entry waits unseen. The ring is only ever touched by its thread.</para>
/// <para>The queue ends when every entry's command has ended (the kernel ends them with <c>ENOTCONN</c> when the
/// connection goes), or when the session stops it after the connection ended and no IO is pending.</para>
/// </remarks>
internal sealed unsafe class FuseUringQueue
{
    private const ulong EventUserData = ulong.MaxValue;

    private const int HeaderStride = 512;

    private readonly FuseSession _session;
    private FrontendCounterShard _counters = null!; // the ring thread's own, made when it starts
    private readonly ushort _queueId;
    private readonly IoUringRing _ring;
    private readonly int _eventFd;
    private readonly FuseUringEntry[] _entries;
    private readonly byte* _headers;
    private readonly nint _iovecs;
    private readonly ulong* _eventValue;
    private FuseUringEntry? _completed;
    private long _served; // written by the ring thread only
    private volatile bool _stopping;
    private int _serving;
    private int _live;

    private FuseUringQueue(FuseSession session, ushort queueId, IoUringRing ring, int eventFd, int depth, int payloadSize)
    {
        _session = session;
        _queueId = queueId;
        _ring = ring;
        _eventFd = eventFd;
        _headers = (byte*)NativeMemory.AlignedAlloc((nuint)(depth * HeaderStride), 4096);
        _iovecs = (nint)NativeMemory.Alloc((nuint)(depth * 4 * sizeof(nint)));
        _eventValue = (ulong*)NativeMemory.Alloc(sizeof(ulong));
        _entries = new FuseUringEntry[depth];
        for (int i = 0; i < depth; i++)
        {
            byte[] payload = GC.AllocateUninitializedArray<byte>(payloadSize, pinned: true);
            _entries[i] = new FuseUringEntry(this, (ushort)i, _headers + (i * HeaderStride), payload, _iovecs + (i * 4 * sizeof(nint)));
        }
    }

    /// <summary>Gets the number of requests this queue has served (read from other threads; written by the ring's).</summary>
    public long Served => Volatile.Read(ref _served);

    /// <summary>Creates queue <paramref name="queueId"/>'s ring on the connection's descriptor <paramref name="fuseFd"/>.</summary>
    /// <returns>0, or the errno of the step that failed.</returns>
    public static int TryCreate(FuseSession session, ushort queueId, int fuseFd, int depth, int payloadSize, out FuseUringQueue? queue)
    {
        queue = null;
        uint entries = (uint)depth + 1; // every entry's command, and the eventfd read
        int errno = IoUringRing.TryCreate(entries, IoUringSetup.Sqe128 | IoUringSetup.CqSize, entries * 2, out IoUringRing? ring);
        if (errno != 0)
        {
            return errno;
        }

        errno = ring!.RegisterFiles([fuseFd]);
        if (errno != 0)
        {
            ring.Dispose();
            return errno;
        }

        int eventFd = Libc.EventFd(0, Libc.EventFdCloseOnExec);
        if (eventFd < 0)
        {
            errno = Marshal.GetLastPInvokeError();
            ring.Dispose();
            return errno;
        }

        queue = new FuseUringQueue(session, queueId, ring, eventFd, depth, payloadSize);
        return 0;
    }

    /// <summary>Starts the ring's thread; it reports to the session once its entries are registered (or failed).</summary>
    public void Start()
    {
        var thread = new Thread(static state => ((FuseUringQueue)state!).Run())
        {
            IsBackground = true,
            Name = "fuse ring " + _queueId.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        thread.Start(this);
    }

    /// <summary>Frees a queue whose thread was never started.</summary>
    public void Discard() => Free();

    /// <summary>Asks the ring thread to end once no IO is pending: the connection is gone. Any thread.</summary>
    public void Stop()
    {
        _stopping = true;
        Signal();
    }

    /// <summary>Called where an entry's pending IO completed: queues the entry for the ring thread. Any thread.</summary>
    public void Completed(FuseUringEntry entry)
    {
        FuseUringEntry? head;
        do
        {
            head = Volatile.Read(ref _completed);
            entry.Next = head;
        }
        while (Interlocked.CompareExchange(ref _completed, entry, head) != head);

        if (head is null)
        {
            Signal();
        }
    }

    private void Signal()
    {
        ulong one = 1;
        _ = Libc.Write(_eventFd, (byte*)&one, sizeof(ulong));
    }

    private void Run()
    {
        _counters = _session.Counters.AddWorker();
        try
        {
            PinToCpu();
            _ = _ring.RegisterRingFd(); // on failure io_uring_enter names the ring by its descriptor

            _live = _entries.Length;
            foreach (FuseUringEntry entry in _entries)
            {
                PrepareRegister(entry);
            }

            PrepareEventRead();
            _session.QueueRegistered(_queueId, Register());
            while (_live > 0 && !(_stopping && _serving == 0))
            {
                int submitted = _ring.Submit(1);
                if (submitted < 0 && -submitted is not (Libc.EINTR or Libc.EAGAIN or Libc.EBUSY))
                {
                    FuseLog.RingFailed(_session.Logger, _queueId, -submitted);
                    break;
                }

                ReapCompletions();
            }

            _ = _ring.Submit(0); // the last commits: the connection is gone, they only end their commands
        }
        finally
        {
            _counters.Dispose();
            Free();
            _session.QueueEnded();
        }
    }

    /// <summary>
    /// Binds the ring's thread to the CPU whose requests the kernel sends to this queue, as libfuse does: the task that
    /// issues a request (a loop device's worker, a reader) wakes the ring thread on its own CPU, so the wake-up needs no
    /// interrupt of another CPU, and the reply's completion runs where the request was made. A CPU this process may not
    /// use (a cpuset) leaves the thread unbound.
    /// </summary>
    private void PinToCpu()
    {
        ulong* mask = stackalloc ulong[16];
        new Span<ulong>(mask, 16).Clear();
        if (Libc.SchedGetAffinity(0, 16 * sizeof(ulong), mask) != 0 || _queueId >= 1024 || (mask[_queueId / 64] & (1UL << (_queueId % 64))) == 0)
        {
            return;
        }

        new Span<ulong>(mask, 16).Clear();
        mask[_queueId / 64] = 1UL << (_queueId % 64);
        _ = Libc.SchedSetAffinity(0, 16 * sizeof(ulong), mask);
    }

    private void Free()
    {
        // Closing the ring cancels what the kernel still holds; the buffers are freed after.
        _ring.Dispose();
        _ = Libc.Close(_eventFd);
        NativeMemory.AlignedFree(_headers);
        NativeMemory.Free((void*)_iovecs);
        NativeMemory.Free(_eventValue);
    }

    /// <summary>Submits the REGISTER commands, retrying those the kernel answers with EAGAIN (INIT not processed yet).</summary>
    /// <returns>Whether every entry is registered (its command waits in the kernel).</returns>
    private bool Register()
    {
        for (int attempt = 0; attempt < 1000; attempt++)
        {
            int submitted = _ring.Submit(0);
            if (submitted < 0 && -submitted is not (Libc.EINTR or Libc.EAGAIN or Libc.EBUSY))
            {
                FuseLog.RingFailed(_session.Logger, _queueId, -submitted);
                return false;
            }

            int live = _live;
            bool retry = false;
            while (_ring.TryPeekCompletion(out IoUringCqe cqe))
            {
                _ring.AdvanceCompletion();
                retry |= cqe.Result is -Libc.EAGAIN or -Libc.EINTR;
                Handle(cqe);
            }

            if (_live < live)
            {
                return false; // a REGISTER was refused: logged by Handle
            }

            if (!retry)
            {
                return true;
            }

            Thread.Sleep(1);
        }

        return false;
    }

    private void ReapCompletions()
    {
        while (_ring.TryPeekCompletion(out IoUringCqe cqe))
        {
            _ring.AdvanceCompletion();
            Handle(cqe);
        }
    }

    private void Handle(in IoUringCqe cqe)
    {
        if (cqe.UserData == EventUserData)
        {
            // Read again before taking the stack: a push after the take finds it empty and writes the eventfd anew.
            if (cqe.Result >= 0 || cqe.Result == -Libc.EINTR)
            {
                PrepareEventRead();
            }

            TakeCompleted();
            return;
        }

        FuseUringEntry entry = _entries[(int)cqe.UserData];
        switch (cqe.Result)
        {
            case 0:
                Serve(entry);
                break;
            case -Libc.EAGAIN or -Libc.EINTR:
                // Not taken (REGISTER before the INIT reply was processed): the same command again.
                if (entry.Registering)
                {
                    PrepareRegister(entry);
                }
                else
                {
                    PrepareCommit(entry);
                }

                break;
            default:
                // The command ended for good: ENOTCONN when the connection goes, ECANCELED when the ring closes.
                _live--;
                if (cqe.Result is not (-Libc.ENOTCONN or -Libc.ECONNABORTED or -Libc.ECANCELED or -Libc.ENODEV))
                {
                    FuseLog.RingCommandFailed(_session.Logger, _queueId, entry.Registering ? "REGISTER" : "COMMIT_AND_FETCH", -cqe.Result);
                }

                break;
        }
    }

    private void Serve(FuseUringEntry entry)
    {
        byte* header = entry.Header;
        FuseInHeader request = *(FuseInHeader*)(header + FuseUring.InOutOffset);
        entry.Registering = false;
        entry.Unique = request.Unique;
        entry.CommitId = *(ulong*)(header + FuseUring.CommitIdOffset);
        int payloadSize = (int)Math.Min(*(uint*)(header + FuseUring.PayloadSizeOffset), (uint)entry.Payload.Length);
        _served++;
        int result = _session.Serve(
            entry,
            request,
            new ReadOnlySpan<byte>(header + FuseUring.OpInOffset, FuseUring.OpInLength),
            entry.Payload.AsMemory(0, payloadSize),
            entry.Payload,
            _counters);
        if (result == FuseCall.Pending)
        {
            _serving++;
            entry.OnCompleted(entry.Continuation);
            return;
        }

        Commit(entry, result);
    }

    private void TakeCompleted()
    {
        FuseUringEntry? entry = Interlocked.Exchange(ref _completed, null);
        while (entry is not null)
        {
            FuseUringEntry next = entry.Next!;
            entry.Next = null;
            _serving--;
            Commit(entry, _session.Finish(entry, entry.Payload));
            entry = next;
        }
    }

    private void Commit(FuseUringEntry entry, int result)
    {
        // Requests that expect no reply (FORGET, INTERRUPT) never come over the ring; answer one anyway, or its
        // entry would never fetch again.
        if (result == FuseSession.NoReply)
        {
            result = -Libc.ENOSYS;
        }

        int bodyLength = Math.Max(result, 0);
        byte* header = entry.Header;
        *(FuseOutHeader*)(header + FuseUring.InOutOffset) = new FuseOutHeader
        {
            Length = (uint)(FuseProtocol.OutHeaderLength + bodyLength),
            Error = Math.Min(result, 0),
            Unique = entry.Unique,
        };
        *(uint*)(header + FuseUring.PayloadSizeOffset) = (uint)bodyLength;
        PrepareCommit(entry);
    }

    private void PrepareCommit(FuseUringEntry entry)
    {
        byte* command = PrepareCommand(entry, FuseUring.CommandCommitAndFetch);
        *(ulong*)(command + FuseUring.CommandCommitIdOffset) = entry.CommitId;
    }

    private void PrepareRegister(FuseUringEntry entry)
    {
        IoUringSqe* sqe = (IoUringSqe*)(PrepareCommand(entry, FuseUring.CommandRegister) - IoUringSqe.CommandOffset);
        sqe->Address = (ulong)entry.Iovecs;
        sqe->Length = 2;
    }

    private byte* PrepareCommand(FuseUringEntry entry, uint command)
    {
        // Never full: the SQ holds every entry's command and the eventfd read, and each has at most one outstanding.
        IoUringSqe* sqe = _ring.TryGetSqe();
        sqe->Opcode = IoUringOpcode.UringCommand;
        sqe->Flags = IoUringOpcode.SqeFixedFile;
        sqe->Fd = 0; // the connection's descriptor, registered file 0
        sqe->CommandOp = command;
        sqe->UserData = entry.Index;
        byte* data = IoUringSqe.Command(sqe);
        *(ushort*)(data + FuseUring.CommandQueueOffset) = _queueId;
        return data;
    }

    private void PrepareEventRead()
    {
        IoUringSqe* sqe = _ring.TryGetSqe();
        sqe->Opcode = IoUringOpcode.Read;
        sqe->Fd = _eventFd;
        sqe->Address = (ulong)_eventValue;
        sqe->Length = sizeof(ulong);
        sqe->UserData = EventUserData;
    }
}
