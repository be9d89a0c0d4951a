namespace Blkmq.Drivers.Null;

/// <summary>The null driver's per-hardware-queue data (null_blk's <c>struct nullb_queue</c>): its timer and poll list.</summary>
public sealed class NullHwQueue : IDisposable
{
    private readonly Lock _pollLock = new();
    private readonly Queue<(Request<NullRequest> Request, BlockStatus Status)> _pollList;

    internal NullHwQueue(NullDevice device, int index, bool isPoll)
    {
        Index = index;
        IsPoll = isPoll;
        _pollList = new Queue<(Request<NullRequest>, BlockStatus)>(device.TagSet.QueueDepth);
        if (device.IrqMode == IrqMode.Timer && !isPoll)
        {
            Timer = new NullTimerQueue(device.TagSet.QueueDepth, $"{device.Name}/{index} timer");
        }
    }

    /// <summary>Gets the queue's index.</summary>
    public int Index { get; }

    /// <summary>Gets whether this is a poll queue.</summary>
    public bool IsPoll { get; }

    internal NullTimerQueue? Timer { get; }

    /// <inheritdoc/>
    public void Dispose() => Timer?.Dispose();

    internal void AddPolled(Request<NullRequest> request, BlockStatus status)
    {
        lock (_pollLock)
        {
            _pollList.Enqueue((request, status));
        }
    }

    internal int CompletePolled()
    {
        int completed = 0;
        while (true)
        {
            (Request<NullRequest> Request, BlockStatus Status) entry;
            lock (_pollLock)
            {
                if (!_pollList.TryDequeue(out entry))
                {
                    return completed;
                }
            }

            // TryEnd: the request may have timed out while it waited for a poll.
            if (entry.Request.TryEnd(entry.Status))
            {
                completed++;
            }
        }
    }
}
