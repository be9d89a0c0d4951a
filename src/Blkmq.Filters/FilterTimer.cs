namespace Blkmq.Filters;

/// <summary>
/// Holds IOs until a time (delay, rate, flakey's pauses) on one thread, then hands each to its filter's
/// <see cref="BlockFilter.OnTimer"/>. A priority queue under one lock, created with room for a full queue depth, so
/// parking an IO allocates nothing once it has grown; the thread sleeps until the earliest deadline.
/// </summary>
internal sealed class FilterTimer : IDisposable
{
    private readonly Lock _lock = new();
    private readonly PriorityQueue<FilterIo, long> _queue = new(256);
    private readonly Thread _thread;
    private readonly AutoResetEvent _wake = new(false);
    private bool _stopping;

    public FilterTimer(string name)
    {
        _thread = new Thread(Run) { IsBackground = true, Name = name };
        _thread.Start();
    }

    /// <summary>Parks <paramref name="io"/> until <paramref name="dueTimestamp"/> (a <see cref="System.Diagnostics.Stopwatch"/> timestamp).</summary>
    /// <param name="io">The IO, still owned by the filter.</param>
    /// <param name="dueTimestamp">When to hand it back.</param>
    public void Schedule(FilterIo io, long dueTimestamp)
    {
        bool earliest;
        lock (_lock)
        {
            earliest = !_queue.TryPeek(out _, out long first) || dueTimestamp < first;
            _queue.Enqueue(io, dueTimestamp);
        }

        if (earliest)
        {
            _wake.Set();
        }
    }

    /// <summary>Stops the thread; IOs still parked are handed to their filters at once.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            _stopping = true;
        }

        _wake.Set();
        _thread.Join();
        _wake.Dispose();
    }

    private void Run()
    {
        while (true)
        {
            FilterIo? due = null;
            int waitMs;
            lock (_lock)
            {
                if (_queue.TryPeek(out FilterIo? io, out long when))
                {
                    long now = System.Diagnostics.Stopwatch.GetTimestamp();
                    if (when <= now || _stopping)
                    {
                        due = _queue.Dequeue();
                        waitMs = 0;
                    }
                    else
                    {
                        waitMs = (int)Math.Clamp(System.Diagnostics.Stopwatch.GetElapsedTime(now, when).TotalMilliseconds + 0.5, 1, 1000);
                    }
                }
                else if (_stopping)
                {
                    return;
                }
                else
                {
                    waitMs = 1000;
                }
            }

            if (due is not null)
            {
                due.Disk.Filter.OnTimer(due);
                continue;
            }

            _wake.WaitOne(waitMs);
        }
    }
}
