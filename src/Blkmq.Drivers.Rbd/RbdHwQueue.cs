using System.Buffers;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Blkmq.Drivers.Rbd.Interop;

namespace Blkmq.Drivers.Rbd;

/// <summary>
/// One hardware queue of an RBD disk: per-tag completion records in native memory, and the queue's completion
/// thread. <see cref="Submit"/> (on the submitter's thread) pins the request's buffers and calls <c>rbd_aio_*</c>
/// with the tag's record as the callback argument; the record carries the request's <see cref="RequestToken"/>.
/// librbd's callback (on a librbd thread) stores the result in the record, pushes the tag onto a lock-free stack
/// and wakes the completion thread if it sleeps; it runs no block-layer or submitter code. The completion thread
/// takes the whole stack at once, releases each completion and the pins, finds each request by its token and ends
/// it with <see cref="EndOptions.RunContinuationInline"/>: the submitter's continuation runs on this thread, which
/// the queue owns and which only reaps, so a burst of completions costs one wake-up instead of one thread-pool
/// hop each, and librbd's thread goes straight back to librbd (rule 10).
/// </summary>
/// <remarks>
/// <para>Wake-up protocol (no lost wake-ups): the completion thread announces it is about to sleep with an
/// interlocked store of <c>_sleeping = 1</c>, then looks at the stack once more and waits only if it is empty. A
/// callback pushes with a compare-exchange (a full fence), then reads <c>_sleeping</c> and, when it was set, clears
/// it with a compare-exchange and signals. At least one side sees the other's store.</para>
/// <para>Buffers stay pinned from <c>rbd_aio_*</c> until librbd's callback, whatever became of the request: a
/// request that timed out (<see cref="TimeoutAction.WillEnd"/>) is still ended only here.</para>
/// </remarks>
public sealed unsafe class RbdHwQueue : IDisposable
{
    private const int Empty = -1;

    private readonly RbdImage _image;
    private readonly nint _imageHandle;
    private readonly CompletionRecord* _records;
    private readonly IoVec* _iovecs;
    private readonly int _maxSegments;
    private readonly Slot[] _slots;
    private readonly GCHandle _self;
    private readonly AutoResetEvent _wake = new(false);
    private readonly Thread _thread;
    private readonly long _pollTicks;

    // Written by librbd's threads (push) and the completion thread (take all): its own cache line.
    private PaddedInt _completed;
    private PaddedInt _sleeping;
    private volatile bool _stopping;

    internal RbdHwQueue(RbdImage image, int hwQueueIndex, int depth, int maxSegments)
    {
        _image = image;
        _imageHandle = image.Handle;
        _maxSegments = maxSegments;
        _pollTicks = image.Options.Poll.Ticks * Stopwatch.Frequency / TimeSpan.TicksPerSecond;
        _completed.Value = Empty;
        _self = GCHandle.Alloc(this, GCHandleType.Normal);
        _records = (CompletionRecord*)NativeMemory.AllocZeroed((nuint)depth, (nuint)sizeof(CompletionRecord));
        _iovecs = (IoVec*)NativeMemory.AllocZeroed((nuint)depth * (nuint)maxSegments, (nuint)sizeof(IoVec));
        _slots = new Slot[depth];
        for (int i = 0; i < depth; i++)
        {
            _records[i].Queue = GCHandle.ToIntPtr(_self);
            _records[i].Tag = i;
            _slots[i] = new Slot(maxSegments);
        }

        _thread = new Thread(static state => ((RbdHwQueue)state!).Run())
        {
            IsBackground = true,
            Name = $"blkmq-rbd-{hwQueueIndex}",
        };
        _thread.Start(this);
    }

    /// <summary>Hands a request to librbd; the queue owns it until the completion thread ends it.</summary>
    /// <param name="request">The request.</param>
    /// <returns><see cref="BlockStatus.Ok"/> when librbd took it; otherwise the status the block layer ends it with.</returns>
    internal BlockStatus Submit(Request<RbdRequest> request)
    {
        int tag = request.Tag;
        CompletionRecord* record = _records + tag;
        Slot slot = _slots[tag];
        RequestOp op = request.Op;
        slot.Op = op;
        slot.Length = request.Length;
        record->Token = request.Token.Value;
        int r = Librbd.AioCreateCompletion(record, &OnComplete, out nint completion);
        if (r < 0)
        {
            return RbdStatus.FromErrno(-r);
        }

        record->Completion = completion;
        ulong offset = (ulong)request.Sector << 9;
        switch (op)
        {
            case RequestOp.Read:
            case RequestOp.Write:
                IoVec* iov = _iovecs + ((long)tag * _maxSegments);
                slot.PinCount = Pin(request, iov, slot.Pins);
                r = op == RequestOp.Read
                    ? Librbd.AioReadV(_imageHandle, iov, slot.PinCount, offset, completion)
                    : Librbd.AioWriteV(_imageHandle, iov, slot.PinCount, offset, completion);
                break;
            case RequestOp.Flush:
                r = Librbd.AioFlush(_imageHandle, completion);
                break;
            case RequestOp.Discard:
                r = Librbd.AioDiscard(_imageHandle, offset, (ulong)request.Length, completion);
                break;
            case RequestOp.WriteZeroes:
                int flags = (request.Flags & RequestFlags.NoUnmap) != 0 ? Librbd.WriteZeroesFlagThickProvision : 0;
                r = Librbd.AioWriteZeroes(_imageHandle, offset, (nuint)request.Length, completion, flags, 0);
                break;
            default:
                r = -Errno.EOPNOTSUPP;
                break;
        }

        if (r < 0)
        {
            // librbd refused the IO at once: its callback will not run.
            Unpin(slot);
            Librbd.AioRelease(completion);
            return RbdStatus.FromErrno(-r);
        }

        return BlockStatus.Ok;
    }

    /// <summary>Stops the completion thread; called by <c>ExitHctx</c> once no request of the queue is left.</summary>
    public void Dispose()
    {
        _stopping = true;
        _wake.Set();
        _thread.Join();
        _wake.Dispose();
        _self.Free();
        NativeMemory.Free(_records);
        NativeMemory.Free(_iovecs);
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnComplete(nint completion, void* arg)
    {
        // On a librbd thread: record, push, maybe wake; nothing that can throw or block.
        var record = (CompletionRecord*)arg;
        record->Result = Librbd.AioGetReturnValue(completion);
        var queue = Unsafe.As<RbdHwQueue>(GCHandle.FromIntPtr(record->Queue).Target!);
        queue.Push(record);
    }

    private static int Pin(Request<RbdRequest> request, IoVec* iov, MemoryHandle[] pins)
    {
        int count = 0;
        foreach (Memory<byte> segment in request.Segments)
        {
            MemoryHandle handle = segment.Pin();
            pins[count] = handle;
            iov[count].Base = (nint)handle.Pointer;
            iov[count].Length = (nuint)segment.Length;
            count++;
        }

        return count;
    }

    private static void Unpin(Slot slot)
    {
        for (int i = 0; i < slot.PinCount; i++)
        {
            slot.Pins[i].Dispose();
            slot.Pins[i] = default;
        }

        slot.PinCount = 0;
    }

    private void Push(CompletionRecord* record)
    {
        int head;
        do
        {
            head = Volatile.Read(ref _completed.Value);
            record->Next = head;
        }
        while (Interlocked.CompareExchange(ref _completed.Value, record->Tag, head) != head);

        // The compare-exchange above is a full fence: this read cannot pass the push (see the remarks).
        if (Volatile.Read(ref _sleeping.Value) != 0 && Interlocked.CompareExchange(ref _sleeping.Value, 0, 1) == 1)
        {
            _wake.Set();
        }
    }

    private void Run()
    {
        while (true)
        {
            int list = Interlocked.Exchange(ref _completed.Value, Empty);
            if (list != Empty)
            {
                Drain(list);
                continue;
            }

            if (_stopping)
            {
                break;
            }

            if (_pollTicks > 0 && Poll())
            {
                continue;
            }

            Interlocked.Exchange(ref _sleeping.Value, 1);
            if (Volatile.Read(ref _completed.Value) != Empty || _stopping)
            {
                Interlocked.Exchange(ref _sleeping.Value, 0);
                continue;
            }

            _wake.WaitOne();
        }
    }

    /// <summary>Spins up to the poll time for a completion, as a NIC's busy poll: saves a sleep and wake-up per IO at low depth.</summary>
    /// <returns>Whether a completion arrived.</returns>
    private bool Poll()
    {
        long deadline = Stopwatch.GetTimestamp() + _pollTicks;
        do
        {
            Thread.SpinWait(16);
            if (Volatile.Read(ref _completed.Value) != Empty)
            {
                return true;
            }
        }
        while (Stopwatch.GetTimestamp() < deadline);

        return false;
    }

    private void Drain(int tag)
    {
        // The stack is newest first; order among completions that arrived together does not matter.
        while (tag != Empty)
        {
            CompletionRecord* record = _records + tag;
            int next = record->Next;
            long result = record->Result;
            ulong token = record->Token;
            Librbd.AioRelease(record->Completion);
            record->Completion = 0;
            Slot slot = _slots[tag];
            Unpin(slot);
            BlockStatus status = StatusOf(slot, result);
            if (_image.TagSet.TryGetRequest(new RequestToken(token), out Request<RbdRequest> request))
            {
                request.TryEnd(status, EndOptions.RunContinuationInline);
            }

            tag = next;
        }
    }

    private BlockStatus StatusOf(Slot slot, long result)
    {
        if (result < 0)
        {
            return RbdStatus.FromErrno((int)-result);
        }

        if (slot.Op == RequestOp.Read && result != slot.Length)
        {
            RbdLog.ShortRead(_image.Logger, _image.Name, result, slot.Length);
            return BlockStatus.IoError;
        }

        return BlockStatus.Ok;
    }

    /// <summary>What librbd's callback fills in, one per tag, in native memory (librbd holds a pointer to it).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct CompletionRecord
    {
        public nint Queue;
        public ulong Token;
        public nint Completion;
        public long Result;
        public int Tag;
        public int Next;
    }

    /// <summary>An int alone on its cache line.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 128)]
    private struct PaddedInt
    {
        [FieldOffset(64)]
        public int Value;
    }

    /// <summary>One tag's managed state while librbd has its IO: written by the submitter, read by the completion thread.</summary>
    private sealed class Slot
    {
        public Slot(int maxSegments) => Pins = new MemoryHandle[maxSegments];

        public MemoryHandle[] Pins { get; }

        public RequestOp Op { get; set; }

        public int Length { get; set; }

        public int PinCount { get; set; }
    }
}
