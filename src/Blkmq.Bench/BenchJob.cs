using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using HdrHistogram;

namespace Blkmq.Bench;

/// <summary>
/// One benchmark job (fio's job): runs <c>iodepth</c> <see cref="BenchWorker"/> loops and pumps their
/// continuations, one at a time. IO completed inline continues without leaving the running thread; IO completed
/// elsewhere queues its worker's continuation (<see cref="Post"/>); polled IO is completed by the job's thread
/// polling the disk.
/// </summary>
/// <remarks>
/// <para>
/// The job is run by whichever thread owns it (<see cref="_owner"/>): its dedicated thread while there is work,
/// and, while that thread sleeps, a completion thread (a timer, a completion context) that completes the job's
/// IO, which then runs the continuation itself instead of waking the sleeper (a futex wake-up costs tens of
/// microseconds on a virtual machine, more than a whole IO). A timer-completed job therefore runs on the timer
/// thread at the timer's accuracy and no thread spins for it. Another job's thread never takes a job over (an IO
/// that completes inline would keep the job there, two jobs sharing one thread): it wakes the job's own thread.
/// </para>
/// <para>
/// Counters and the latency histogram are written only by the owner, so recording takes no lock; taking and
/// releasing ownership are full fences. The controller merges the histograms after the jobs end. The ready queue
/// is a ring of one slot per worker (a worker has at most one continuation pending), guarded by a lock that only
/// this job's completions share.
/// </para>
/// </remarks>
internal sealed class BenchJob : IDisposable
{
    /// <summary>Latencies above this (in nanoseconds) are recorded as this.</summary>
    private const long HighestLatencyNs = 3_600_000_000_000;

    private readonly BlockDevice _device;
    private readonly BenchWorker[] _workers;
    private readonly bool _polled;
    private readonly int _blockSize;
    private readonly double _nanosecondsPerTick = 1e9 / Stopwatch.Frequency;
    private readonly Lock _readyLock = new();
    private readonly Action?[] _ready;
    private readonly Action?[] _parked;
    private readonly ManualResetEventSlim _wake = new(false, spinCount: 0);
    private readonly Thread _thread;
    private readonly long _regionEnd;
    private int _readyHead;
    private int _readyCount;
    private int _parkedCount;
    private int _running;
    private int _owner;
    private bool _warmupSignalled;
    private long _nextSequential;

    /// <summary>The job whose dedicated thread this is; null on every other thread.</summary>
    [ThreadStatic]
    private static BenchJob? t_job;

    // Written by this job's thread only; padded so other jobs' counters do not share the line.
    private JobCounters _counters;

    public BenchJob(int index, BenchControl control, BlockDevice device, BenchSettings settings)
    {
        Index = index;
        Control = control;
        _device = device;
        _polled = settings.Polled;
        _blockSize = settings.BlockSize;
        _regionEnd = settings.Size;

        // Sequential jobs start spread over the region, as separate fio jobs on one file would not all hit offset 0 together.
        _nextSequential = settings.Size / settings.Jobs * index / settings.BlockSize * settings.BlockSize;

        int depth = settings.IoDepth;
        _ready = new Action?[depth];
        _parked = new Action?[depth];
        _workers = new BenchWorker[depth];
        long workerCount = (long)settings.Jobs * depth;
        long warmupTotal = settings.IsCountBased ? settings.TotalIos / 10 : 0;
        long measuredTotal = settings.TotalIos - warmupTotal;
        for (int i = 0; i < depth; i++)
        {
            long worker = ((long)index * depth) + i;
            long warmup = settings.IsCountBased ? Share(warmupTotal, workerCount, worker) : long.MaxValue;
            long measured = settings.IsCountBased ? Share(measuredTotal, workerCount, worker) : long.MaxValue;
            ulong seed = 0x9E3779B97F4A7C15UL * (ulong)(worker + 1);
            _workers[i] = new BenchWorker(this, device, settings, seed, warmup, measured);
        }

        Histogram = new LongHistogram(HighestLatencyNs, 3);

        // The first RecordValue runs HdrHistogram's static initialisers (lookup tables): do it here, not in the measured phase.
        Histogram.RecordValue(1);
        Histogram.Reset();
        _thread = new Thread(Run) { IsBackground = true, Name = $"bench job {index}" };
    }

    public int Index { get; }

    public BenchControl Control { get; }

    /// <summary>Gets the latencies of the measured phase in nanoseconds; read only after the job ended.</summary>
    public LongHistogram Histogram { get; }

    /// <summary>Gets IOs completed so far, warmup included (a racy snapshot for the sampler).</summary>
    public long Completed => Volatile.Read(ref _counters.Completed);

    /// <summary>Gets the measured IOs; exact after the job ended.</summary>
    public long MeasuredIos => _counters.MeasuredIos;

    /// <summary>Gets the measured bytes; exact after the job ended.</summary>
    public long MeasuredBytes => _counters.MeasuredBytes;

    /// <summary>Gets the IOs that failed.</summary>
    public long Errors => _counters.Errors;

    /// <summary>Gets the first failure: an IO error, or an exception that ended a worker.</summary>
    public Exception? FirstError { get; private set; }

    /// <summary>Gets the <see cref="Stopwatch"/> timestamp at which the last worker ended.</summary>
    public long EndTimestamp { get; private set; }

    public void Start() => _thread.Start();

    public void Dispose() => _wake.Dispose();

    public void Join() => _thread.Join();

    /// <summary>The next sequential offset; called on the job's thread only.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public long NextSequentialOffset()
    {
        long offset = _nextSequential;
        long next = offset + _blockSize;
        _nextSequential = next + _blockSize > _regionEnd ? 0 : next;
        return offset;
    }

    /// <summary>Counts one completed IO and records its latency if it belongs to the measured phase; job thread only.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void OnCompleted(bool measuring, long ticks)
    {
        _counters.Completed++;

        // An IO that ends after the stop lies outside the measured window the controller timed.
        if (measuring && !Control.Stopping)
        {
            _counters.MeasuredIos++;
            _counters.MeasuredBytes += _blockSize;
            long nanoseconds = (long)(ticks * _nanosecondsPerTick);
            Histogram.RecordValue(nanoseconds < HighestLatencyNs ? nanoseconds : HighestLatencyNs);
        }
    }

    public void OnError(BlockIOException error)
    {
        _counters.Errors++;
        FirstError ??= error;
    }

    public void OnWorkerExited()
    {
        if (--_running == 0)
        {
            EndTimestamp = Stopwatch.GetTimestamp();
        }
    }

    /// <summary>Keeps a worker's continuation until the measured phase starts; job thread only.</summary>
    public void Park(Action continuation) => _parked[_parkedCount++] = continuation;

    /// <summary>
    /// Queues a worker's continuation; any thread. When nobody runs the job (its thread sleeps), the caller takes
    /// the job over and runs the queue itself.
    /// </summary>
    public void Post(Action continuation)
    {
        lock (_readyLock)
        {
            _ready[(_readyHead + _readyCount) % _ready.Length] = continuation;
            _readyCount++;
        }

        // Dekker pair with HandOverAndSleep: the owner releases with a full fence and then looks at the queue; we
        // filled the queue, fence, and then look at the owner. Either it sees our entry or we see the job free.
        Interlocked.MemoryBarrier();
        if (Volatile.Read(ref _owner) != 0)
        {
            return;
        }

        if (t_job is null)
        {
            // A completion thread (a timer, a completion context): run the job here rather than wake its thread.
            if (Interlocked.CompareExchange(ref _owner, 1, 0) == 0)
            {
                RunHandedOver();
            }
        }
        else
        {
            // Another job's thread (a tag it freed, say): it must not take this job over for good, as an IO that
            // completes inline would keep the job on that thread. Wake the job's own thread instead.
            _wake.Set();
        }
    }

    private static long Share(long total, long parts, long part) => (total / parts) + (part < total % parts ? 1 : 0);

    private void Run()
    {
        t_job = this;
        // Take the ready queue's path once before any IO: a thread's first lock and first wait initialise
        // per-thread state (about a kilobyte) that must not be charged to the measured phase.
        _owner = 1;
        Post(static () => { });
        if (TryDequeue(out Action? warm))
        {
            warm();
        }

        _running = _workers.Length;
        var tasks = new Task[_workers.Length];
        for (int i = 0; i < _workers.Length; i++)
        {
            tasks[i] = _workers[i].RunAsync();
        }

        while (_running > 0)
        {
            if (TryDequeue(out Action? next))
            {
                next();
                continue;
            }

            if (NeedsBarrier)
            {
                WaitForMeasuredPhase();
                continue;
            }

            if (_polled)
            {
                // Polled IO completes only when someone polls; this job owns its IO, so it spins on the poll queues.
                _device.Poll();
                continue;
            }

            HandOverAndSleep();
        }

        if (!_warmupSignalled)
        {
            Control.WarmupDone.Signal();
        }

        foreach (Task task in tasks)
        {
            if (task.IsFaulted)
            {
                FirstError ??= task.Exception!.InnerException;
                _counters.Errors++;
            }
        }

        Control.JobsDone.Signal();
    }

    /// <summary>Gets whether every running worker waits at the warmup barrier, which only the job's thread crosses.</summary>
    private bool NeedsBarrier => !_warmupSignalled && _parkedCount == _running;

    /// <summary>Runs the job on a completing thread that took it over in <see cref="Post"/>, until the queue is empty.</summary>
    private void RunHandedOver()
    {
        do
        {
            while (TryDequeue(out Action? next))
            {
                next();
            }

            bool wakeJobThread = _running == 0 || NeedsBarrier;
            Interlocked.Exchange(ref _owner, 0);
            if (wakeJobThread)
            {
                _wake.Set();
                return;
            }

            // An entry posted while we owned the job is ours to run: its poster saw the job taken.
        }
        while (Volatile.Read(ref _readyCount) != 0 && Interlocked.CompareExchange(ref _owner, 1, 0) == 0);
    }
    private void WaitForMeasuredPhase()
    {
        _warmupSignalled = true;
        Control.WarmupDone.Signal();
        Control.MeasureGate.Wait();
        for (int i = 0; i < _parkedCount; i++)
        {
            Post(_parked[i]!);
            _parked[i] = null;
        }

        _parkedCount = 0;
    }

    private bool TryDequeue([NotNullWhen(true)] out Action? continuation)
    {
        // A racy look first: the common empty case takes no lock.
        if (Volatile.Read(ref _readyCount) == 0)
        {
            continuation = null;
            return false;
        }

        lock (_readyLock)
        {
            continuation = _ready[_readyHead]!;
            _ready[_readyHead] = null;
            _readyHead = (_readyHead + 1) % _ready.Length;
            _readyCount--;
            return true;
        }
    }

    /// <summary>
    /// Releases the job to whichever thread completes its next IO and sleeps until the job needs this thread again
    /// (the warmup barrier or the end), then takes the job back.
    /// </summary>
    private void HandOverAndSleep()
    {
        _wake.Reset();
        Interlocked.Exchange(ref _owner, 0);

        // Entries posted while we owned the job were left to us; the rest of the job is the completers' now.
        if (Volatile.Read(ref _readyCount) != 0 && Interlocked.CompareExchange(ref _owner, 1, 0) == 0)
        {
            return;
        }

        while (true)
        {
            _wake.Wait();
            _wake.Reset();
            if (Interlocked.CompareExchange(ref _owner, 1, 0) == 0)
            {
                return;
            }

            // A completion thread runs the job right now; it wakes us again once it has let go, if it needs us.
        }
    }
}
