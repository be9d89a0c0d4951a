namespace Blkmq;

/// <summary>
/// Excludes overlapping byte ranges: a holder of [start, end) waits for every overlapping holder to release. Used by
/// the byte-granular access (<see cref="BlockDevice.WriteBytesAsync"/>) so that a read-modify-write of a partial block
/// never loses a concurrent write.
/// </summary>
/// <remarks>
/// Allocation-free when uncontended: holders are pooled, and the task a waiter waits on is made only when someone has
/// to wait. A holder's version changes when it is released, so disposing a stale <see cref="Releaser"/> copy twice
/// cannot release the next user of the pooled holder.
/// </remarks>
internal sealed class RangeLock
{
    private readonly Lock _lock = new();
    private readonly List<Holder> _holders = [];
    private readonly Stack<Holder> _free = new();

    /// <summary>Waits until no holder overlaps [<paramref name="start"/>, <paramref name="end"/>), then holds it.</summary>
    /// <returns>The hold; dispose it exactly once to release the range.</returns>
    public ValueTask<Releaser> AcquireAsync(long start, long end, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (FindOverlap(start, end) is null)
            {
                return new ValueTask<Releaser>(Take(start, end));
            }
        }

        return AcquireContendedAsync(start, end, cancellationToken);
    }

    private async ValueTask<Releaser> AcquireContendedAsync(long start, long end, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task wait;
            lock (_lock)
            {
                Holder? overlapping = FindOverlap(start, end);
                if (overlapping is null)
                {
                    return Take(start, end);
                }

                wait = (overlapping.Released ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
            }

            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private Holder? FindOverlap(long start, long end)
    {
        foreach (Holder holder in _holders)
        {
            if (holder.Start < end && start < holder.End)
            {
                return holder;
            }
        }

        return null;
    }

    private Releaser Take(long start, long end)
    {
        Holder holder = _free.Count > 0 ? _free.Pop() : new Holder();
        holder.Start = start;
        holder.End = end;
        _holders.Add(holder);
        return new Releaser(this, holder, holder.Version);
    }

    private void Release(Holder holder, int version)
    {
        TaskCompletionSource? waiters;
        lock (_lock)
        {
            if (holder.Version != version)
            {
                return; // a second dispose of the same hold
            }

            holder.Version++;
            _holders.Remove(holder);
            waiters = holder.Released;
            holder.Released = null;
            _free.Push(holder);
        }

        waiters?.TrySetResult();
    }

    /// <summary>A held range; <see cref="Dispose"/> releases it and wakes whoever waits for it.</summary>
    internal readonly struct Releaser : IDisposable
    {
        private readonly RangeLock _owner;
        private readonly Holder _holder;
        private readonly int _version;

        public Releaser(RangeLock owner, Holder holder, int version)
        {
            _owner = owner;
            _holder = holder;
            _version = version;
        }

        public void Dispose() => _owner?.Release(_holder, _version);
    }

    /// <summary>One hold: its range, its version, and the task waiters wait on (made by the first of them).</summary>
    internal sealed class Holder
    {
        public long Start;
        public long End;
        public int Version;
        public TaskCompletionSource? Released;
    }
}
