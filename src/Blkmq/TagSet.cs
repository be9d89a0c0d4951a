namespace Blkmq;

/// <summary>
/// A tag set (Linux <c>struct blk_mq_tag_set</c>): the driver, its hardware queues' tags and the preallocated
/// requests behind them, shared by every disk added to it. The total in flight per hardware queue over all
/// its disks is at most <see cref="TagSetCore.QueueDepth"/>.
/// </summary>
/// <typeparam name="TDriver">The driver, a struct implementing the operations contract.</typeparam>
/// <typeparam name="TData">The driver's per-request data.</typeparam>
/// <typeparam name="THw">The driver's per-hardware-queue data.</typeparam>
/// <typeparam name="TDisk">The driver's per-disk data.</typeparam>
public sealed class TagSet<TDriver, TData, THw, TDisk> : TagSetCore
    where TDriver : struct, IBlockDriver<TData, THw, TDisk>
{
    private readonly RequestSlot[] _allSlots;

    /// <summary>Initializes a new instance of the <see cref="TagSet{TDriver, TData, THw, TDisk}"/> class.</summary>
    /// <param name="driver">The driver; copied into every hardware queue.</param>
    /// <param name="options">The tag set's shape.</param>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    public TagSet(TDriver driver, TagSetOptions options)
        : base(options)
    {
        Driver = driver;
        if (DriverTraits<TDriver, TData, THw, TDisk>.FindSignatureDrift() is { } drift)
        {
            ThrowHelper.ThrowArgument(drift, nameof(driver));
        }

        if (DriverTraits<TDriver, TData, THw, TDisk>.FindConcurrencyConflict() is { } conflict)
        {
            ThrowHelper.ThrowArgument(conflict, nameof(driver));
        }

        if (DriverTraits<TDriver, TData, THw, TDisk>.HasMapQueues)
        {
            driver.MapQueues(Map);
        }

        if (options.PollQueueCount > 0 && !DriverTraits<TDriver, TData, THw, TDisk>.HasPoll)
        {
            ThrowHelper.ThrowArgument("The tag set has poll queues but the driver does not implement Poll.", nameof(options));
        }

        int depth = options.QueueDepth;
        Slots = new RequestSlot<TData>[options.TotalQueueCount][];
        _allSlots = new RequestSlot[options.TotalQueueCount * depth];
        int created = 0;
        try
        {
            for (int hw = 0; hw < Slots.Length; hw++)
            {
                Slots[hw] = new RequestSlot<TData>[depth];
                for (int tag = 0; tag < depth; tag++)
                {
                    int index = (hw * depth) + tag;
                    var slot = new RequestSlot<TData>(Tags[hw], hw, tag, index, options.MaxSegments, driver.InitRequest(hw, tag));
                    Slots[hw][tag] = slot;
                    _allSlots[index] = slot;
                    created++;
                }
            }
        }
        catch
        {
            // InitRequest threw part way: give back what was made, then let the caller see the driver's error.
            ExitRequests(created);
            throw;
        }

        StartTimeoutTimer();
    }

    internal TDriver Driver { get; }

    internal RequestSlot<TData>[][] Slots { get; }

    internal override RequestSlot[] AllSlots => _allSlots;

    /// <summary>
    /// Adds a disk served by this tag set (<c>blk_mq_alloc_disk</c> + <c>add_disk</c>); the driver's
    /// <c>InitHctx</c> runs for each hardware queue. If one throws, the queues made so far are exited and the
    /// exception propagates; nothing is registered.
    /// </summary>
    /// <param name="diskData">The driver's data for the disk.</param>
    /// <param name="options">The disk's shape.</param>
    /// <returns>The disk, ready for IO.</returns>
    public Disk AddDisk(TDisk diskData, DiskOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate(Options.MaxSegments);
        var disk = new GenDisk<TDriver, TData, THw, TDisk>(this, diskData, options);
        try
        {
            Register(disk);
        }
        catch
        {
            disk.ExitQueues();
            throw;
        }

        BlkmqLog.DiskAdded(Logger, disk.Name, disk.Capacity, disk.Limits.LogicalBlockSize, HardwareQueueCount + PollQueueCount);
        return disk;
    }

    /// <summary>
    /// Looks up the request behind a tag (<c>blk_mq_tag_to_rq</c>), as a driver does when the device reports a
    /// completion by tag. Succeeds only while the driver owns that request: a free tag, a request still with
    /// the block layer, or one already ended gives false, never a handle to someone else's IO.
    /// </summary>
    /// <param name="hwQueueIndex">The hardware queue.</param>
    /// <param name="tag">The tag.</param>
    /// <param name="request">The handle, valid as long as the driver owns the request.</param>
    /// <returns>Whether the driver owns a request with that tag now.</returns>
    public bool TryGetRequest(int hwQueueIndex, int tag, out Request<TData> request)
    {
        if ((uint)hwQueueIndex < (uint)Slots.Length && (uint)tag < (uint)QueueDepth)
        {
            RequestSlot<TData> slot = Slots[hwQueueIndex][tag];
            long word = slot.StateWord;
            if (RequestState.IsDriverOwned(RequestState.State(word)))
            {
                request = new Request<TData>(slot, RequestState.Generation(word));
                return true;
            }
        }

        request = default;
        return false;
    }

    /// <summary>
    /// Looks up the IO a token names (rule 10): the request is returned only while the driver owns that exact IO,
    /// never the tag's earlier or later IO. This is how a driver finds a request again from io_uring's
    /// <c>user_data</c>, a librbd callback argument or any other value a foreign API carried.
    /// </summary>
    /// <param name="token">A token from <see cref="Request{TData}.Token"/>.</param>
    /// <param name="request">The handle, valid as long as the driver owns the request.</param>
    /// <returns>Whether the IO is still the driver's.</returns>
    public bool TryGetRequest(RequestToken token, out Request<TData> request)
    {
        int hwQueueIndex = token.HwQueueIndex;
        int tag = token.Tag;
        if ((uint)hwQueueIndex < (uint)Slots.Length && (uint)tag < (uint)QueueDepth)
        {
            RequestSlot<TData> slot = Slots[hwQueueIndex][tag];
            long word = slot.StateWord;
            long generation = RequestState.Generation(word);
            if (token.Matches(generation) && RequestState.IsDriverOwned(RequestState.State(word)))
            {
                request = new Request<TData>(slot, generation);
                return true;
            }
        }

        request = default;
        return false;
    }

    private protected override void ExitRequests() => ExitRequests(_allSlots.Length);

    private void ExitRequests(int count)
    {
        if (!DriverTraits<TDriver, TData, THw, TDisk>.HasExitRequest)
        {
            return;
        }

        TDriver driver = Driver;
        int depth = Options.QueueDepth;
        for (int i = 0; i < count; i++)
        {
            driver.ExitRequest(ref Slots[i / depth][i % depth]._data);
        }
    }
}
