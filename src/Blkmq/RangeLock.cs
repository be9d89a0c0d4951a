namespace Blkmq;

/// <summary>
/// A reader-writer lock over byte ranges, the disk's one range-lock policy: every write of whole blocks (write,
/// write-zeroes, discard) holds its range <em>shared</em> while it is in flight, and a read-modify-write of a partial
/// block (<see cref="BlockDevice.WriteBytesAsync"/>) holds the blocks it patches <em>exclusive</em>, so that no write
/// of those blocks lands between its read and its write back and is undone by it. Shared holds never wait for each
/// other; an exclusive hold waits for every overlapping hold.
/// </summary>
/// <remarks>
/// <para>
/// The protocol keeps the shared case, which is every aligned write, to two interlocked operations and no range:
/// <see cref="TryEnterShared"/> counts the hold in <c>_fastShared</c> and then reads <c>_exclusive</c>; an exclusive
/// acquirer increments <c>_exclusive</c> and then reads <c>_fastShared</c>. Both are full fences, so at least one of the
/// two sees the other (Dekker): either the shared hold backs out and takes the recorded path, or the exclusive one
/// waits until every fast shared hold has been released (<c>_drained</c>). While any exclusive hold is held or
/// wanted, shared holds are recorded with their ranges, so an exclusive hold waits only for overlapping ones.
/// </para>
/// <para>
/// Allocation-free when uncontended: recorded holders are pooled, and the task a waiter waits on is made only when
/// someone has to wait. A recorded holder's version changes when it is released, so disposing a stale
/// <see cref="Releaser"/> copy twice cannot release the next user of the pooled holder. Exclusive holds can wait
/// behind a steady stream of overlapping shared ones: they are rare (partial blocks only), shared ones short.
/// </para>
/// </remarks>
internal sealed class RangeLock
{
    private readonly Lock _lock = new();
    private readonly List<Holder> _holders = [];
    private readonly Stack<Holder> _free = new();

    // Written by every aligned write; kept apart from _exclusive, which only partial writes change.
    private PaddedCount _fastShared;
    private int _exclusive;
    private TaskCompletionSource? _drained;

    /// <summary>Gets how many shared holds are held on the fast path (for tests).</summary>
    internal int FastSharedCount => Volatile.Read(ref _fastShared.Value);

    /// <summary>
    /// Takes a shared hold of the whole disk without recording a range, unless an exclusive hold is held or wanted.
    /// </summary>
    /// <returns>True when held: call <see cref="ExitShared"/> exactly once when the write has ended.</returns>
    public bool TryEnterShared()
    {
        Interlocked.Increment(ref _fastShared.Value);

        // Read after the increment (a full fence): an exclusive acquirer that raised _exclusive first is seen here.
        if (Volatile.Read(ref _exclusive) == 0)
        {
            return true;
        }

        ExitShared();
        return false;
    }

    /// <summary>Releases a hold taken by <see cref="TryEnterShared"/>.</summary>
    public void ExitShared()
    {
        if (Interlocked.Decrement(ref _fastShared.Value) == 0 && Volatile.Read(ref _exclusive) != 0)
        {
            SignalDrained();
        }
    }

    /// <summary>Waits until no overlapping exclusive hold exists, then holds [<paramref name="start"/>, <paramref name="end"/>) shared.</summary>
    /// <returns>The hold; dispose it exactly once to release the range.</returns>
    public ValueTask<Releaser> AcquireSharedAsync(long start, long end, CancellationToken cancellationToken)
    {
        if (TryEnterShared())
        {
            return new ValueTask<Releaser>(new Releaser(this, null, 0));
        }

        lock (_lock)
        {
            if (FindOverlap(start, end, exclusive: false) is null)
            {
                return new ValueTask<Releaser>(Take(start, end, exclusive: false));
            }
        }

        return AcquireContendedAsync(start, end, exclusive: false, cancellationToken);
    }

    /// <summary>Waits until no hold overlaps [<paramref name="start"/>, <paramref name="end"/>), then holds it exclusive.</summary>
    /// <returns>The hold; dispose it exactly once to release the range.</returns>
    public ValueTask<Releaser> AcquireAsync(long start, long end, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _exclusive);
        if (Volatile.Read(ref _fastShared.Value) == 0)
        {
            lock (_lock)
            {
                if (FindOverlap(start, end, exclusive: true) is null)
                {
                    return new ValueTask<Releaser>(Take(start, end, exclusive: true));
                }
            }
        }

        return AcquireExclusiveContendedAsync(start, end, cancellationToken);
    }

    private async ValueTask<Releaser> AcquireExclusiveContendedAsync(long start, long end, CancellationToken cancellationToken)
    {
        try
        {
            // Fast shared holds carry no range: wait for all of them. No new ones start while _exclusive is raised.
            while (true)
            {
                Task drained;
                lock (_lock)
                {
                    if (Volatile.Read(ref _fastShared.Value) == 0)
                    {
                        break;
                    }

                    drained = (_drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
                }

                await drained.WaitAsync(cancellationToken).ConfigureAwait(false);
            }

            return await AcquireContendedAsync(start, end, exclusive: true, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // Cancelled: this acquirer no longer keeps shared holds on the recorded path.
            Interlocked.Decrement(ref _exclusive);
            throw;
        }
    }

    private async ValueTask<Releaser> AcquireContendedAsync(long start, long end, bool exclusive, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task wait;
            lock (_lock)
            {
                Holder? overlapping = FindOverlap(start, end, exclusive);
                if (overlapping is null)
                {
                    return Take(start, end, exclusive);
                }

                wait = (overlapping.Released ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
            }

            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Finds a recorded hold that conflicts: any overlapping one for an exclusive hold, an overlapping exclusive one for a shared hold.</summary>
    private Holder? FindOverlap(long start, long end, bool exclusive)
    {
        foreach (Holder holder in _holders)
        {
            if (holder.Start < end && start < holder.End && (exclusive || holder.Exclusive))
            {
                return holder;
            }
        }

        return null;
    }

    private Releaser Take(long start, long end, bool exclusive)
    {
        Holder holder = _free.Count > 0 ? _free.Pop() : new Holder();
        holder.Start = start;
        holder.End = end;
        holder.Exclusive = exclusive;
        _holders.Add(holder);
        return new Releaser(this, holder, holder.Version);
    }

    private void Release(Holder holder, int version)
    {
        TaskCompletionSource? waiters;
        bool exclusive;
        lock (_lock)
        {
            if (holder.Version != version)
            {
                return; // a second dispose of the same hold
            }

            holder.Version++;
            exclusive = holder.Exclusive;
            _holders.Remove(holder);
            waiters = holder.Released;
            holder.Released = null;
            _free.Push(holder);
        }

        if (exclusive)
        {
            Interlocked.Decrement(ref _exclusive);
        }

        waiters?.TrySetResult();
    }

    private void SignalDrained()
    {
        TaskCompletionSource? drained;
        lock (_lock)
        {
            drained = _drained;
            _drained = null;
        }

        drained?.TrySetResult();
    }

    /// <summary>A held range; <see cref="Dispose"/> releases it and wakes whoever waits for it.</summary>
    internal readonly struct Releaser : IDisposable
    {
        private readonly RangeLock _owner;
        private readonly Holder? _holder;
        private readonly int _version;

        /// <summary>Initializes a hold: a recorded <paramref name="holder"/>, or null for a fast shared hold.</summary>
        public Releaser(RangeLock owner, Holder? holder, int version)
        {
            _owner = owner;
            _holder = holder;
            _version = version;
        }

        public void Dispose()
        {
            if (_holder is not null)
            {
                _owner.Release(_holder, _version);
            }
            else
            {
                _owner?.ExitShared();
            }
        }
    }

    /// <summary>One recorded hold: its range and mode, its version, and the task waiters wait on (made by the first of them).</summary>
    internal sealed class Holder
    {
        public long Start;
        public long End;
        public bool Exclusive;
        public int Version;
        public TaskCompletionSource? Released;
    }

    /// <summary>A counter alone on its cache line.</summary>
    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Explicit, Size = 128)]
    private struct PaddedCount
    {
        [System.Runtime.InteropServices.FieldOffset(64)]
        public int Value;
    }
}
