using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace Blkmq.Concurrency.Tests.Infrastructure;

/// <summary>
/// A <see cref="TagBitmap"/> with owners: every tag handed out (by <c>TryAllocate</c>, at once by
/// <c>AllocateAsync</c>, or later to a waiter) is recorded against an owner count that must go 0 → 1 → 0, so a
/// tag given to two owners at once, or freed by a non-owner, is a violation. Operations are thread-safe, so CsCheck
/// can run them in parallel and compare the outcome against every sequential order.
/// </summary>
internal sealed class TagBitmapState
{
    private readonly int[] _owners;
    private readonly ConcurrentQueue<int> _held = new();
    private readonly Lock _pendingLock = new();
    private readonly List<ValueTask<int>> _pending = [];
    private int _violations;

    public TagBitmapState(int depth)
    {
        Tags = new TagBitmap(depth);
        _owners = new int[depth];
    }

    public TagBitmap Tags { get; }

    public void TryAllocate()
    {
        if (Tags.TryAllocate(out int tag))
        {
            Take(tag);
        }
    }

    public void AllocateAsync()
    {
        ValueTask<int> waiting = Tags.AllocateAsync();
        if (waiting.IsCompleted)
        {
            Take(waiting.Result);
            return;
        }

        lock (_pendingLock)
        {
            _pending.Add(waiting);
        }
    }

    public void Free()
    {
        if (_held.TryDequeue(out int tag))
        {
            // Give up ownership before the bit: once it is clear another owner may take the tag at once.
            if (Interlocked.Decrement(ref _owners[tag]) != 0)
            {
                Interlocked.Increment(ref _violations);
            }

            Tags.Free(tag);
        }
    }

    /// <summary>
    /// The observable state once the operations are done: tags in use, waiters, tags held (a waiter that was handed
    /// a tag counts as holding it), waiters still pending, and violations. Idempotent and thread-safe: CsCheck may
    /// compare one run against several orders at once, and print it.
    /// </summary>
    public Outcome Observe()
    {
        lock (_pendingLock)
        {
            // A woken waiter's value task completes inside Free (the tag is set under the bitmap's lock), so a
            // quiescent state needs no waiting here; each completed one is read exactly once.
            for (int i = _pending.Count - 1; i >= 0; i--)
            {
                if (_pending[i].IsCompleted)
                {
                    Take(_pending[i].Result);
                    _pending.RemoveAt(i);
                }
            }

            return new Outcome(Tags.InUse, Tags.WaiterCount, _held.Count, _pending.Count, Volatile.Read(ref _violations), Tags.Depth);
        }
    }

    public override string ToString() => $"depth {Tags.Depth}: {Observe()}";

    private void Take(int tag)
    {
        if (Interlocked.Increment(ref _owners[tag]) != 1)
        {
            Interlocked.Increment(ref _violations);
        }

        _held.Enqueue(tag);
    }

    [StructLayout(LayoutKind.Auto)]
    internal readonly record struct Outcome(int InUse, int Waiters, int Held, int Pending, int Violations, int Depth)
    {
        /// <summary>
        /// The invariants of any quiescent state: every allocated tag has exactly one owner, every queued waiter is
        /// pending, and no waiter is left waiting while a tag is free (a lost wake-up).
        /// </summary>
        public bool IsConsistent => Violations == 0 && InUse == Held && Waiters == Pending && (Waiters == 0 || InUse == Depth);
    }
}
