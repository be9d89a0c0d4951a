namespace Blkmq.Nbd;

/// <summary>
/// Dedicated threads for connections' blocking loops, kept parked between uses (a thread cache, as database servers
/// keep one). Starting a new thread costs the caller a round trip with the new thread (hundreds of microseconds on a
/// small virtual machine, all of it on a new client's first request); waking a parked one costs one wake-up.
/// </summary>
internal sealed class ThreadCache : IDisposable
{
    /// <summary>How many times a thread that could not be started is tried again.</summary>
    private const int StartRetries = 5;

    private readonly Lock _lock = new();
    private readonly Stack<Worker> _parked = new();
    private readonly int _maxParked;
    private readonly int _stackSize;
    private readonly string _name;
    private bool _disposed;

    /// <param name="name">The threads' name.</param>
    /// <param name="maxParked">How many threads may wait for work; more end when their work is done.</param>
    /// <param name="stackSize">Each thread's stack size in bytes.</param>
    public ThreadCache(string name, int maxParked, int stackSize)
    {
        _name = name;
        _maxParked = maxParked;
        _stackSize = stackSize;
    }

    /// <summary>Runs <paramref name="work"/> on a thread of its own: a parked one, or a new one.</summary>
    /// <param name="work">What to run; it must not throw.</param>
    /// <param name="state">Its argument.</param>
    /// <exception cref="OutOfMemoryException">No thread could be started (a thread limit), after a few tries.</exception>
    public void Run(Action<object?> work, object? state)
    {
        Worker? worker = null;
        lock (_lock)
        {
            if (_parked.Count > 0)
            {
                worker = _parked.Pop();
            }
        }

        if (worker is not null)
        {
            worker.Wake(work, state);
            return;
        }

        worker = new Worker(this, work, state);
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                new Thread(static w => ((Worker)w!).Loop(), _stackSize) { IsBackground = true, Name = _name }.Start(worker);
                return;
            }
            catch (OutOfMemoryException) when (attempt < StartRetries)
            {
                // pthread_create failed (EAGAIN): a thread, process or memory limit was reached. Threads of this and
                // other processes end all the time (seen once in CI under load), so wait a little and try again:
                // 10 + 20 + 40 + 80 + 160 ms before the caller hears of it.
                Thread.Sleep(10 << attempt);
            }
        }
    }

    /// <summary>Ends the parked threads; threads still working end when their work is done.</summary>
    public void Dispose()
    {
        Worker[] parked;
        lock (_lock)
        {
            _disposed = true;
            parked = [.. _parked];
            _parked.Clear();
        }

        foreach (Worker worker in parked)
        {
            worker.Wake(null, null);
        }
    }

    /// <summary>Parks a worker whose work is done.</summary>
    /// <returns>False when the thread should end instead.</returns>
    private bool TryPark(Worker worker)
    {
        lock (_lock)
        {
            if (_disposed || _parked.Count >= _maxParked)
            {
                return false;
            }

            _parked.Push(worker);
            return true;
        }
    }

    private sealed class Worker(ThreadCache cache, Action<object?>? work, object? state)
    {
        private readonly object _gate = new();
        private Action<object?>? _work = work;
        private object? _state = state;
        private bool _woken;

        /// <summary>Hands the parked worker its next work (null: end).</summary>
        public void Wake(Action<object?>? work, object? state)
        {
            lock (_gate)
            {
                _work = work;
                _state = state;
                _woken = true;
                Monitor.Pulse(_gate);
            }
        }

        public void Loop()
        {
            while (_work is { } work)
            {
                object? state = _state;
                _work = null;
                _state = null;
                work(state);
                if (!cache.TryPark(this))
                {
                    return;
                }

                lock (_gate)
                {
                    while (!_woken)
                    {
                        Monitor.Wait(_gate);
                    }

                    _woken = false;
                }
            }
        }
    }
}
