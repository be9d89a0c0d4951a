using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading.Tasks.Sources;

namespace Blkmq;

/// <summary>
/// A scalable, lock-free tag bitmap (the idea of Linux <c>sbitmap</c>): the tags are spread over several 64-bit
/// words, each on its own cache line, and a submitter starts its search at the word its processor last allocated
/// from (per-processor hints, spread evenly at first), so submitters on different processors rarely touch the same
/// line. Allocation is one compare-and-swap, freeing is
/// one atomic AND.
/// </summary>
/// <remarks>
/// A submitter that finds no free tag queues a waiter (pooled, so steady state allocates nothing) and is woken in
/// FIFO order as tags free; while anyone waits, the fast path defers to the queue so waiters are not starved, and a
/// fast path that took a tag while a waiter queued (its search raced the waiter's) hands the tag to the queue.
/// The lost-wakeup race is closed Dekker-style: <see cref="Free"/> clears the bit (a full fence) and then reads
/// the waiter count; a waiter raises the count (a full fence) and then tries to allocate; one of them sees the
/// other.
/// </remarks>
internal sealed class TagBitmap
{
    private readonly PaddedWord[] _words;

    /// <summary>Per processor: the word its submitters allocated from last (sbitmap's per-cpu <c>alloc_hint</c>).</summary>
    private readonly PaddedHint[] _hints;
    private readonly int _shift;
    private readonly int _depth;
    // The queue is also the slow path's lock: a monitor rather than a System.Threading.Lock, because Coyote controls
    // monitors, so its systematic tests can interleave waiters, frees and fast-path allocations.
    private readonly Queue<TagWaiter> _waiters = new();
    private readonly Stack<TagWaiter> _waiterPool = new();
    private int _waiterCount;

    public TagBitmap(int depth)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(depth, 1);
        _depth = depth;
        _shift = CalculateShift(depth);
        int bitsPerWord = 1 << _shift;
        int wordCount = (depth + bitsPerWord - 1) >> _shift;
        _words = new PaddedWord[wordCount];
        for (int i = 0; i < wordCount; i++)
        {
            int bits = Math.Min(bitsPerWord, depth - (i << _shift));
            _words[i].Mask = bits == 64 ? ulong.MaxValue : (1UL << bits) - 1;
        }

        // Processors start spread evenly over the words, so two submitters on two processors begin (and, as each
        // frees what it allocated, stay) on different cache lines.
        _hints = new PaddedHint[Environment.ProcessorCount];
        for (int cpu = 0; cpu < _hints.Length; cpu++)
        {
            _hints[cpu].Word = (int)((long)cpu * wordCount / _hints.Length);
        }
    }

    /// <summary>Gets the number of tags.</summary>
    public int Depth => _depth;

    /// <summary>Gets the number of tags in use (a snapshot, for statistics and tests).</summary>
    public int InUse
    {
        get
        {
            int count = 0;
            for (int i = 0; i < _words.Length; i++)
            {
                count += BitOperations.PopCount(Volatile.Read(ref _words[i].Value));
            }

            return count;
        }
    }

    /// <summary>Gets the number of submitters waiting for a tag.</summary>
    public int WaiterCount => Volatile.Read(ref _waiterCount);

    /// <summary>Gets or sets where a woken waiter's continuation runs instead of the thread pool: the simulator only (see <see cref="TagSetCore.WorkScheduler"/>).</summary>
    internal IWorkScheduler? WorkScheduler { get; set; }

    /// <summary>
    /// Tries to take a free tag without waiting. While others wait, they are served first, in order, and this call
    /// takes a tag only if one is left after them: it fails only when no tag is free.
    /// </summary>
    /// <param name="tag">The tag taken.</param>
    /// <returns>Whether a tag was taken.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryAllocate(out int tag)
    {
        if (Volatile.Read(ref _waiterCount) != 0)
        {
            return TryAllocateBehindWaiters(out tag);
        }

        if (!TryAllocateCore(out tag))
        {
            return false;
        }

        // A waiter queued during the search (after the count was read above) may have missed the tag just taken, freed
        // meanwhile: it was first in line, so the tag goes to the queue. The compare-and-swap is a full fence and so is
        // the waiter's increment of the count: one of the two sees the other.
        return Volatile.Read(ref _waiterCount) == 0 || KeepOrYieldToWaiters(ref tag);
    }

    /// <summary>Takes a tag, waiting in FIFO order for one to free when none is free.</summary>
    /// <returns>The tag.</returns>
    public ValueTask<int> AllocateAsync()
    {
        if (TryAllocate(out int tag))
        {
            return new ValueTask<int>(tag);
        }

        TestHookAfterMiss?.Invoke();
        TagWaiter waiter;
        lock (_waiters)
        {
            waiter = _waiterPool.Count > 0 ? _waiterPool.Pop() : new TagWaiter(this);
            waiter.Reset();
            _waiters.Enqueue(waiter);
            Interlocked.Increment(ref _waiterCount);
        }

        TestHookAfterQueued?.Invoke();
        WakeWaiters();
        return new ValueTask<int>(waiter, waiter.Version);
    }

    /// <summary>Returns a tag. Must be called exactly once per allocated tag.</summary>
    /// <param name="tag">The tag.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Free(int tag)
    {
        Debug.Assert((uint)tag < (uint)_depth, "tag out of range");
        Debug.Assert(IsAllocated(tag), "double free of a tag");
        ClearBit(tag);
        if (Volatile.Read(ref _waiterCount) != 0)
        {
            WakeWaiters();
        }
    }

    /// <summary>Whether a tag is currently allocated.</summary>
    /// <param name="tag">The tag.</param>
    /// <returns>Whether it is in use.</returns>
    public bool IsAllocated(int tag) =>
        (Volatile.Read(ref _words[tag >> _shift].Value) & (1UL << (tag & ((1 << _shift) - 1)))) != 0;

    private static int CalculateShift(int depth)
    {
        // As sbitmap_calculate_shift: the largest power of two bits per word, at most 64, that still gives at
        // least four words, so that a deep queue spreads over several cache lines.
        int shift = 6;
        if (depth >= 4)
        {
            while ((4 << shift) > depth)
            {
                shift--;
            }
        }

        return shift;
    }

    private bool TryAllocateCore(out int tag)
    {
        PaddedWord[] words = _words;

        // The hint of the processor this thread runs on now: a thread that migrates follows its new processor's
        // words. Two threads on one processor share a hint, which costs nothing: they never run at the same time.
        ref PaddedHint hint = ref _hints[(int)((uint)Thread.GetCurrentProcessorId() % (uint)_hints.Length)];
        int start = hint.Word;
        int index = start;
        do
        {
            ref PaddedWord word = ref words[index];
            ulong current = Volatile.Read(ref word.Value);
            ulong free = ~current & word.Mask;
            while (free != 0)
            {
                int bit = BitOperations.TrailingZeroCount(free);
                ulong taken = current | (1UL << bit);
                ulong seen = Interlocked.CompareExchange(ref word.Value, taken, current);
                if (seen == current)
                {
                    hint.Word = index;
                    tag = (index << _shift) + bit;
                    return true;
                }

                current = seen;
                free = ~current & word.Mask;
            }

            index = index + 1 == words.Length ? 0 : index + 1;
        }
        while (index != start);

        tag = -1;
        return false;
    }

    /// <summary>
    /// Test seams of the slow path (never set outside tests; the fast path does not read them): after
    /// <see cref="AllocateAsync"/> found no tag, and after it queued its waiter but before it served the queue.
    /// </summary>
    internal Action? TestHookAfterMiss { get; set; }

    /// <inheritdoc cref="TestHookAfterMiss"/>
    internal Action? TestHookAfterQueued { get; set; }

    // A waiter may be queued while tags are free: between a free that saw no waiter and the waiter's own pass over the
    // queue. Serving the queue here first keeps the order and never fails this caller while a tag is left.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool TryAllocateBehindWaiters(out int tag)
    {
        lock (_waiters)
        {
            return ServeWaitersThenTryAllocateLocked(out tag);
        }
    }

    // The fast path took a tag while a waiter was queued: the waiter is served first (with this tag, when it is the only
    // one free), and the caller keeps a tag only when no one is left waiting.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool KeepOrYieldToWaiters(ref int tag)
    {
        lock (_waiters)
        {
            if (_waiters.Count == 0)
            {
                return true;
            }

            ClearBit(tag);
            return ServeWaitersThenTryAllocateLocked(out tag);
        }
    }

    private bool ServeWaitersThenTryAllocateLocked(out int tag)
    {
        ServeWaitersLocked();
        if (_waiters.Count == 0)
        {
            return TryAllocateCore(out tag);
        }

        tag = -1;
        return false;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void ClearBit(int tag) =>
        Interlocked.And(ref _words[tag >> _shift].Value, ~(1UL << (tag & ((1 << _shift) - 1))));

    private void WakeWaiters()
    {
        lock (_waiters)
        {
            ServeWaitersLocked();
        }
    }

    private void ServeWaitersLocked()
    {
        while (_waiters.Count > 0 && TryAllocateCore(out int tag))
        {
            TagWaiter waiter = _waiters.Dequeue();
            Interlocked.Decrement(ref _waiterCount);
            if (WorkScheduler is { } scheduler)
            {
                // The simulator orders the waiter's wake-up with everything else it runs.
                scheduler.Queue(new TagWake(waiter, tag));
            }
            else
            {
                waiter.SetResult(tag);
            }
        }
    }

    private void ReturnWaiter(TagWaiter waiter)
    {
        lock (_waiters)
        {
            _waiterPool.Push(waiter);
        }
    }

    // 128 bytes per hint and per word so that neither two of them nor one and its neighbour's prefetch pair share a line.
    [StructLayout(LayoutKind.Explicit, Size = 128)]
    private struct PaddedHint
    {
        [FieldOffset(64)]
        public int Word;
    }

    [StructLayout(LayoutKind.Explicit, Size = 128)]
    private struct PaddedWord
    {
        [FieldOffset(64)]
        public ulong Value;

        [FieldOffset(72)]
        public ulong Mask;
    }

    /// <summary>A pooled awaiter for one tag; continuations run on the thread pool so a free never recurses into a submission.</summary>
    private sealed class TagWaiter : IValueTaskSource<int>
    {
        private readonly TagBitmap _owner;
        private ManualResetValueTaskSourceCore<int> _core = new() { RunContinuationsAsynchronously = true };

        public TagWaiter(TagBitmap owner) => _owner = owner;

        public short Version => _core.Version;

        public void Reset() => _core.Reset();

        public void SetResult(int tag) => _core.SetResult(tag);

        /// <summary>Completes the wait running the continuation here (the simulator's work item is the thread-pool hop).</summary>
        public void SetResultInline(int tag)
        {
            _core.RunContinuationsAsynchronously = false;
            _core.SetResult(tag);
            _core.RunContinuationsAsynchronously = true;
        }

        public int GetResult(short token)
        {
            int tag = _core.GetResult(token);
            _owner.ReturnWaiter(this);
            return tag;
        }

        public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);

        public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);
    }

    /// <summary>A waiter's wake-up as a work item, for the simulator's scheduler.</summary>
    private sealed class TagWake(TagWaiter waiter, int tag) : IThreadPoolWorkItem
    {
        public void Execute() => waiter.SetResultInline(tag);
    }
}
