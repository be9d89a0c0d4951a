using System.Diagnostics;

namespace Blkmq.Drivers.Null;

/// <summary>
/// Timer completions for one hardware queue (null_blk's <c>irqmode=2</c> hrtimer): requests are ended a fixed
/// delay after they were queued. Because the delay is the same for all, arrival order is deadline order, so a
/// ring of at most queue-depth entries replaces a timer per request; one thread per queue sleeps until the
/// oldest deadline (an absolute, low-slack sleep that learns how late the machine wakes it; see
/// <see cref="PreciseSleep"/>) and ends every request that is due.
/// </summary>
internal sealed class NullTimerQueue : IDisposable
{
    private readonly Entry[] _ring;
    private readonly Entry[] _due;
    private readonly Lock _lock = new();
    private readonly ManualResetEventSlim _wake = new(false, spinCount: 0);
    private readonly Thread _thread;
    private readonly PreciseSleep _sleep = new();
    private int _head;
    private int _count;
    private bool _idle;
    private volatile bool _stopping;

    public NullTimerQueue(int capacity, string name)
    {
        _ring = new Entry[capacity];
        _due = new Entry[capacity];
        _thread = new Thread(Run) { IsBackground = true, Name = name };
        _thread.Start();
    }

    /// <summary>Adds a request that ends at <paramref name="deadline"/> (a <see cref="Stopwatch"/> timestamp).</summary>
    public void Add(Request<NullRequest> request, BlockStatus status, long deadline)
    {
        bool wake;
        lock (_lock)
        {
            if (_count == _ring.Length)
            {
                // Cannot happen while each tag is queued at most once; fail loudly rather than drop a request.
                throw new InvalidOperationException("Timer ring overflow: more requests than tags.");
            }

            _ring[(_head + _count) % _ring.Length] = new Entry(request, status, deadline);
            _count++;
            wake = _idle;
            _idle = false;
        }

        if (wake)
        {
            _wake.Set();
        }
    }

    public void Dispose()
    {
        // Under the lock that the loop checks the flag under before it resets the wake-up: so either the loop sees
        // the flag, or its reset came first and this Set ends its wait. Set outside the lock alone could fall
        // between the loop's check and its reset and be lost, leaving the join below waiting for ever.
        lock (_lock)
        {
            _stopping = true;
        }

        _wake.Set();

        // A submitter's continuation runs on this thread when the timer ends its IO; if that continuation tears
        // the disk down, joining ourselves would never return. The loop sees _stopping when the call unwinds.
        if (Thread.CurrentThread != _thread)
        {
            _thread.Join();
        }
    }

    private void Run()
    {
        PreciseSleep.TuneCurrentThread();
        while (!_stopping)
        {
            long next;
            int due = 0;
            lock (_lock)
            {
                if (_count == 0)
                {
                    if (_stopping)
                    {
                        break;
                    }

                    _idle = true;
                    _wake.Reset();
                    next = -1;
                }
                else
                {
                    long now = Stopwatch.GetTimestamp();
                    next = _ring[_head].Deadline;
                    while (_count > 0 && _ring[_head].Deadline <= now)
                    {
                        _due[due++] = _ring[_head];
                        _ring[_head] = default;
                        _head = (_head + 1) % _ring.Length;
                        _count--;
                    }
                }
            }

            if (next < 0)
            {
                _wake.Wait();
                continue;
            }

            if (due == 0)
            {
                _sleep.Until(next);
                continue;
            }

            for (int i = 0; i < due; i++)
            {
                Entry entry = _due[i];
                _due[i] = default;

                // TryEnd: the request may have timed out or its disk been removed meanwhile (rule 4).
                entry.Request.TryEnd(entry.Status, EndOptions.RunContinuationInline);
            }
        }

        // Stopping: end what is left so that no submitter waits for a timer that is gone.
        lock (_lock)
        {
            while (_count > 0)
            {
                _ring[_head].Request.TryEnd(BlockStatus.IoError);
                _ring[_head] = default;
                _head = (_head + 1) % _ring.Length;
                _count--;
            }
        }
    }

    private readonly record struct Entry(Request<NullRequest> Request, BlockStatus Status, long Deadline);
}
