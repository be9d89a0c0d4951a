namespace Blkmq.Simulation.Tests.Infrastructure;

/// <summary>
/// The simulated machine: one thread, a virtual clock in nanoseconds, and every piece of work that would run
/// concurrently in production (the block layer's thread-pool work items, driver completions, timers, the
/// submitters) as an event. Work that is ready runs one item at a time in an order the seed picks; when nothing
/// is ready the clock jumps to the next timed event. So one seed is one interleaving, replayed exactly.
/// </summary>
internal sealed class SimScheduler : IWorkScheduler
{
    private readonly List<Work> _ready = [];
    private readonly PriorityQueue<Work, (long Time, long Sequence)> _timed = new();
    private readonly int _threadId = Environment.CurrentManagedThreadId;
    private readonly Queue<string> _recent = new();
    private long _sequence;
    private ulong _traceHash = 14695981039346656037UL;
    private ulong _stepHash;

    public SimScheduler(SimRandom random) => Random = random;

    public SimRandom Random { get; }

    /// <summary>Gets the virtual time in nanoseconds.</summary>
    public long Now { get; private set; }

    public long Steps { get; private set; }

    /// <summary>Gets a hash of every traced event, in step order (within a step, in any order): equal for equal runs.</summary>
    public ulong TraceHash => _traceHash;

    /// <summary>Gets the first piece of work that ran on a thread other than the simulator's (an escape).</summary>
    public string? Escape { get; private set; }

    public int PendingCount => _ready.Count + _timed.Count;

    /// <summary>Gets how often each kind of event ran or each fault fired: what a run covered.</summary>
    public SortedDictionary<string, long> Counters { get; } = new(StringComparer.Ordinal);

    /// <summary>Gets the last events, oldest first, for a failure report.</summary>
    public IEnumerable<string> Recent => _recent;

    /// <summary>How many recent events to keep for a failure report; 0 keeps none (fast).</summary>
    public int RecentLimit { get; set; } = 40;

    /// <summary>Gets or sets a sink for every traced event.</summary>
    public Action<string>? Observer { get; set; }

    void IWorkScheduler.Queue(IThreadPoolWorkItem item)
    {
        CheckThread("a block-layer work item was queued");
        _ready.Add(new Work(item, null, item.GetType().Name));
    }

    /// <summary>Runs <paramref name="action"/> as soon as the seed picks it.</summary>
    public void Post(Action action, string label)
    {
        CheckThread(label);
        _ready.Add(new Work(null, action, label));
    }

    /// <summary>Runs <paramref name="action"/> at virtual time <paramref name="time"/> (or later, if the seed keeps other work first).</summary>
    public void At(long time, Action action, string label)
    {
        CheckThread(label);
        _timed.Enqueue(new Work(null, action, label), (Math.Max(time, Now), _sequence++));
    }

    /// <summary>Counts one occurrence of <paramref name="key"/> (coverage, not part of the trace).</summary>
    public void Count(string key)
    {
        Counters[key] = Counters.GetValueOrDefault(key) + 1;
    }

    /// <summary>Records a fact in the trace (part of the determinism hash, and of the failure report).</summary>
    public void Trace(string text)
    {
        _stepHash += Fnv(text);
        Observer?.Invoke($"t={Now} step {Steps}: {text}");
        if (RecentLimit > 0)
        {
            _recent.Enqueue($"t={Now / 1000.0:F1}us step {Steps}: {text}");
            while (_recent.Count > RecentLimit)
            {
                _recent.Dequeue();
            }
        }
    }

    /// <summary>Runs one event; false when there is none.</summary>
    public bool Step()
    {
        if (_ready.Count == 0)
        {
            if (!_timed.TryPeek(out _, out (long Time, long Sequence) first))
            {
                return false;
            }

            Now = Math.Max(Now, first.Time);
            while (_timed.TryPeek(out Work? work, out (long Time, long Sequence) key) && key.Time <= Now)
            {
                _timed.Dequeue();
                _ready.Add(work);
            }
        }

        int index = Random.Next(_ready.Count);
        Work next = _ready[index];
        _ready[index] = _ready[^1];
        _ready.RemoveAt(_ready.Count - 1);
        Steps++;
        _stepHash = 0;
        Count(next.Label);
        Trace(next.Label);
        if (next.Item is not null)
        {
            next.Item.Execute();
        }
        else
        {
            next.Action!();
        }

        _traceHash = (_traceHash ^ _stepHash) * 1099511628211UL;
        return true;
    }

    /// <summary>Notes an escape if this is not the simulator's thread: work the seed does not order.</summary>
    public void CheckThread(string what)
    {
        if (Environment.CurrentManagedThreadId != _threadId && Escape is null)
        {
            Escape = $"{what} on thread {Environment.CurrentManagedThreadId}, not the simulator's ({_threadId})";
        }
    }

    private static ulong Fnv(string text)
    {
        ulong hash = 14695981039346656037UL;
        foreach (char c in text)
        {
            hash = (hash ^ c) * 1099511628211UL;
        }

        return hash;
    }

    private sealed record Work(IThreadPoolWorkItem? Item, Action? Action, string Label);
}
