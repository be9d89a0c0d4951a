namespace Blkmq;

/// <summary>
/// Excludes overlapping byte ranges: a holder of [start, end) waits for every overlapping holder to release.
/// Used by the stream adapter so that read-modify-write of partial blocks never loses a concurrent write.
/// </summary>
internal sealed class RangeLock
{
    private readonly Lock _lock = new();
    private readonly List<Holder> _holders = [];

    public async ValueTask<IDisposable> AcquireAsync(long start, long end, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task wait;
            lock (_lock)
            {
                Holder? overlapping = null;
                foreach (Holder holder in _holders)
                {
                    if (holder.Start < end && start < holder.End)
                    {
                        overlapping = holder;
                        break;
                    }
                }

                if (overlapping is null)
                {
                    var mine = new Holder(this, start, end);
                    _holders.Add(mine);
                    return mine;
                }

                wait = overlapping.Released.Task;
            }

            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private void Release(Holder holder)
    {
        lock (_lock)
        {
            _holders.Remove(holder);
        }

        holder.Released.TrySetResult();
    }

    private sealed class Holder(RangeLock owner, long start, long end) : IDisposable
    {
        public long Start { get; } = start;

        public long End { get; } = end;

        public TaskCompletionSource Released { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Dispose() => owner.Release(this);
    }
}
