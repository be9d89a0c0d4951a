using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Blkmq;

/// <summary>
/// The part of a tag set that does not depend on the driver's types: tags, slots, the disks, the clock and the
/// timeout scan (Linux <c>blk_mq_timeout_work</c>: one timer per tag set walks the in-flight requests).
/// </summary>
public abstract class TagSetCore : IDisposable, IAsyncDisposable
{
    private readonly Lock _disksLock = new();
    private readonly List<Disk> _disks = [];
    private ITimer? _timeoutTimer;
    private IWorkScheduler? _workScheduler;
    private bool _disposed;

    private protected TagSetCore(TagSetOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        Time = options.TimeProvider ?? TimeProvider.System;
        Logger = options.LoggerFactory?.CreateLogger("Blkmq") ?? NullLogger.Instance;
        Clock = new BlockClock(Time);
        TimeoutTicks = Math.Max(1, (long)Math.Ceiling(options.RequestTimeout.TotalSeconds * Clock.Frequency));
        Tags = new TagBitmap[options.TotalQueueCount];
        for (int i = 0; i < Tags.Length; i++)
        {
            Tags[i] = new TagBitmap(options.QueueDepth);
        }

        Map = new QueueMap(Environment.ProcessorCount, options.HardwareQueueCount, options.PollQueueCount);
        Map.MapRoundRobin();
    }

    /// <summary>Gets the options the tag set was made with.</summary>
    public TagSetOptions Options { get; }

    /// <summary>Gets the number of default hardware queues.</summary>
    public int HardwareQueueCount => Options.HardwareQueueCount;

    /// <summary>Gets the number of poll queues.</summary>
    public int PollQueueCount => Options.PollQueueCount;

    /// <summary>Gets the number of tags per hardware queue.</summary>
    public int QueueDepth => Options.QueueDepth;

    /// <summary>Gets how many requests the tag set holds: one per tag of every queue.</summary>
    public int RequestCount => AllSlots.Length;

    /// <summary>Gets the disks currently added.</summary>
    public IReadOnlyList<Disk> Disks
    {
        get
        {
            lock (_disksLock)
            {
                return [.. _disks];
            }
        }
    }

    /// <summary>Gets the number of tags in use on a hardware queue (a snapshot).</summary>
    /// <param name="hwQueueIndex">The queue.</param>
    /// <returns>Tags allocated.</returns>
    public int GetTagsInUse(int hwQueueIndex) => Tags[hwQueueIndex].InUse;

    /// <summary>Gets the number of tags in use over all hardware queues (a snapshot); zero when the tag set is idle.</summary>
    public int TagsInUse
    {
        get
        {
            int sum = 0;
            foreach (TagBitmap tags in Tags)
            {
                sum += tags.InUse;
            }

            return sum;
        }
    }

    internal TimeProvider Time { get; }

    internal BlockClock Clock { get; }

    internal ILogger Logger { get; }

    internal long TimeoutTicks { get; }

    internal TagBitmap[] Tags { get; }

    internal QueueMap Map { get; }

    internal abstract RequestSlot[] AllSlots { get; }

    internal Lock TimeoutScanLock { get; } = new();

    /// <summary>
    /// Gets or sets where work items go instead of the thread pool; null (always, outside the simulator) for the
    /// thread pool. Read only where a work item is queued, which costs a thread hop anyway, never per dispatch.
    /// </summary>
    internal IWorkScheduler? WorkScheduler
    {
        get => _workScheduler;
        set
        {
            _workScheduler = value;
            foreach (TagBitmap tags in Tags)
            {
                tags.WorkScheduler = value;
            }
        }
    }

    /// <summary>Queues a block-layer work item: to the thread pool, or to the simulator's scheduler.</summary>
    internal void QueueWork(IThreadPoolWorkItem item)
    {
        IWorkScheduler? scheduler = _workScheduler;
        if (scheduler is null)
        {
            ThreadPool.UnsafeQueueUserWorkItem(item, preferLocal: false);
        }
        else
        {
            scheduler.Queue(item);
        }
    }

    /// <summary>Removes every disk, then releases the slots' per-request data.</summary>
    public void Dispose()
    {
        DisposeAsync().AsTask().GetAwaiter().GetResult();
        GC.SuppressFinalize(this);
    }

    /// <summary>Removes every disk (draining their IO), then releases the slots' per-request data.</summary>
    /// <returns>A task that completes when the tag set is torn down.</returns>
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        foreach (Disk disk in Disks)
        {
            await disk.RemoveAsync().ConfigureAwait(false);
        }

        if (_timeoutTimer is not null)
        {
            await _timeoutTimer.DisposeAsync().ConfigureAwait(false);
        }

        lock (TimeoutScanLock)
        {
            ExitRequests();
        }

        GC.SuppressFinalize(this);
    }

    /// <summary>Runs one timeout scan now (the timer runs it periodically).</summary>
    public void ScanTimeouts()
    {
        HandleTimeouts(disk: null, BlockStatus.Timeout);
    }

    /// <summary>
    /// Times out the in-flight requests past their deadline, or with <paramref name="disk"/> every in-flight
    /// request of that disk (removal's grace period is over), ending those the driver gives up with
    /// <paramref name="status"/>.
    /// </summary>
    /// <returns>How many requests the block layer ended (not those the driver ended, rearmed or will end).</returns>
    internal int HandleTimeouts(Disk? disk, BlockStatus status)
    {
        int ended = 0;
        lock (TimeoutScanLock)
        {
            HwQueueBase.EnterBlockLayerContext();
            try
            {
                long now = Clock.Now();
                foreach (RequestSlot slot in AllSlots)
                {
                    if (slot.TryBeginTimeout(now, disk, out long generation))
                    {
                        // TimingOut holds the slot for this IO until HandleTimeout settles it: _hctx is stable.
                        if (slot.Hctx.HandleTimeout(slot, generation, status))
                        {
                            ended++;
                        }
                    }
                }
            }
            finally
            {
                HwQueueBase.ExitBlockLayerContext();
            }
        }

        return ended;
    }

    /// <summary>Starts the periodic timeout scan; called once the slots exist.</summary>
    private protected void StartTimeoutTimer()
    {
        TimeSpan period = TimeSpan.FromTicks(Math.Clamp(Options.RequestTimeout.Ticks / 4, TimeSpan.TicksPerMillisecond, TimeSpan.TicksPerSecond));
        _timeoutTimer = Time.CreateTimer(static state => ((TagSetCore)state!).ScanTimeouts(), this, period, period);
    }

    internal void Register(Disk disk)
    {
        lock (_disksLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            foreach (Disk existing in _disks)
            {
                if (existing.Name == disk.Name)
                {
                    ThrowHelper.ThrowArgument($"A disk named '{disk.Name}' already exists in this tag set.", nameof(DiskOptions.Name));
                }
            }

            _disks.Add(disk);
        }
    }

    internal void Unregister(Disk disk)
    {
        lock (_disksLock)
        {
            _disks.Remove(disk);
        }
    }

    private protected abstract void ExitRequests();
}
