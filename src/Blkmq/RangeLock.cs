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
/// The shared case, which is every aligned write, costs nothing here: such a write is not recorded at all. Its
/// request is its hold, and the write gate is the handshake. The block layer moves the request into
/// <c>Dispatching</c> with a CAS (a full fence) and then reads <see cref="IsExclusiveWanted"/>; an exclusive
/// acquirer raises <c>_exclusive</c> with an interlocked increment (a full fence) and then looks for those requests
/// in the tag set (<c>unrecordedWrites</c>, <see cref="Disk"/>'s scan). One of the two sees the other (Dekker): either
/// the write backs out before the driver sees it and takes the recorded path (<see cref="AcquireSharedAsync"/>), or
/// the exclusive acquirer waits until it has ended. While any exclusive hold is held or wanted, writes are recorded
/// with their ranges, so an exclusive hold waits only for overlapping ones.
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
    private readonly Func<CancellationToken, ValueTask>? _unrecordedWrites;
    private int _exclusive;

    /// <summary>Initializes a range lock.</summary>
    /// <param name="unrecordedWrites">
    /// Waits until every write that passed the write gate (<see cref="IsExclusiveWanted"/> read as false) before the
    /// call has ended; null when no write bypasses the lock.
    /// </param>
    public RangeLock(Func<CancellationToken, ValueTask>? unrecordedWrites = null)
    {
        _unrecordedWrites = unrecordedWrites;
    }

    /// <summary>
    /// Gets whether an exclusive hold is held or wanted: the write gate. A write that reads it as true after its
    /// dispatch CAS must not reach the driver; it takes a recorded hold instead.
    /// </summary>
    public bool IsExclusiveWanted
    {
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
        get => Volatile.Read(ref _exclusive) != 0;
    }

    /// <summary>Waits until no overlapping exclusive hold exists, then holds [<paramref name="start"/>, <paramref name="end"/>) shared.</summary>
    /// <returns>The hold; dispose it exactly once to release the range.</returns>
    public ValueTask<Releaser> AcquireSharedAsync(long start, long end, CancellationToken cancellationToken)
    {
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
        // Raised first, then the unrecorded writes are looked for: see the remarks.
        Interlocked.Increment(ref _exclusive);
        ValueTask unrecorded;
        try
        {
            unrecorded = _unrecordedWrites?.Invoke(cancellationToken) ?? default;
        }
        catch
        {
            Interlocked.Decrement(ref _exclusive);
            throw;
        }

        if (unrecorded.IsCompletedSuccessfully)
        {
            lock (_lock)
            {
                if (FindOverlap(start, end, exclusive: true) is null)
                {
                    return new ValueTask<Releaser>(Take(start, end, exclusive: true));
                }
            }
        }

        return AcquireExclusiveContendedAsync(unrecorded, start, end, cancellationToken);
    }

    private async ValueTask<Releaser> AcquireExclusiveContendedAsync(ValueTask unrecorded, long start, long end, CancellationToken cancellationToken)
    {
        try
        {
            // Unrecorded writes carry no range: wait for all of them. No new ones start while _exclusive is raised.
            await unrecorded.ConfigureAwait(false);
            return await AcquireContendedAsync(start, end, exclusive: true, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // Cancelled: this acquirer no longer keeps writes on the recorded path.
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

    /// <summary>A held range; <see cref="Dispose"/> releases it and wakes whoever waits for it.</summary>
    internal readonly struct Releaser : IDisposable
    {
        private readonly RangeLock _owner;
        private readonly Holder? _holder;
        private readonly int _version;

        /// <summary>Initializes a hold of a recorded <paramref name="holder"/>.</summary>
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
}
