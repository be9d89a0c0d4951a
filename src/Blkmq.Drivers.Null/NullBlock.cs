namespace Blkmq.Drivers.Null;

/// <summary>
/// A running null block instance: its tag set(s) and its <c>nr_devices</c> disks, named <c>nullb0</c>,
/// <c>nullb1</c>, ... With <c>shared_tags</c> all disks share one tag set, so their total in flight per queue is
/// <c>hw_queue_depth</c>; otherwise each disk has its own.
/// </summary>
public sealed class NullBlock : IAsyncDisposable, IDisposable
{
    private readonly List<TagSet<NullDriver, NullRequest, NullHwQueue, NullDevice>> _tagSets = [];
    private readonly List<Disk> _disks = [];
    private readonly List<NullDevice> _devices = [];

    private NullBlock(NullBlockOptions options)
    {
        Options = options;
    }

    /// <summary>Gets the parameters.</summary>
    public NullBlockOptions Options { get; }

    /// <summary>Gets the disks.</summary>
    public IReadOnlyList<Disk> Disks => _disks;

    /// <summary>Gets the first disk.</summary>
    public Disk Disk => _disks[0];

    /// <summary>Gets the per-disk driver data (memory accounting, allocation map), in disk order.</summary>
    public IReadOnlyList<NullDevice> Devices => _devices;

    /// <summary>Gets the tag sets: one when <c>shared_tags</c>, else one per disk.</summary>
    public IReadOnlyList<TagSetCore> TagSets => _tagSets;

    /// <summary>Creates the tag set(s) and disks described by <paramref name="options"/>.</summary>
    /// <param name="options">The null_blk parameters.</param>
    /// <returns>The instance; dispose it to remove the disks.</returns>
    /// <exception cref="ArgumentException">A parameter is out of range.</exception>
    public static NullBlock Create(NullBlockOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var instance = new NullBlock(options);
        try
        {
            TagSet<NullDriver, NullRequest, NullHwQueue, NullDevice>? shared = null;
            for (int i = 0; i < options.NrDevices; i++)
            {
                TagSet<NullDriver, NullRequest, NullHwQueue, NullDevice> tagSet = options.SharedTags
                    ? shared ??= instance.NewTagSet()
                    : instance.NewTagSet();
                var device = new NullDevice(options, i);
                Disk disk = tagSet.AddDisk(device, DiskOptionsFor(options, i));
                instance._devices.Add(device);
                instance._disks.Add(disk);
            }
        }
        catch
        {
            instance.Dispose();
            throw;
        }

        return instance;
    }

    /// <summary>Creates an instance from null_blk-style text, for example <c>irqmode=0,memory_backed=1,size=1G</c>.</summary>
    /// <param name="spec">Comma-separated <c>name=value</c> pairs.</param>
    /// <returns>The instance.</returns>
    public static NullBlock Create(string spec) => Create(NullBlockOptions.Parse(spec));

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        foreach (TagSet<NullDriver, NullRequest, NullHwQueue, NullDevice> tagSet in _tagSets)
        {
            await tagSet.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <inheritdoc/>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    internal static DiskOptions DiskOptionsFor(NullBlockOptions options, int index)
    {
        bool memory = options.MemoryBacked;
        return new DiskOptions
        {
            Name = options.Name + index.ToString(System.Globalization.CultureInfo.InvariantCulture),
            Capacity = options.Size,
            Rotational = options.Rotational,
            Limits = new QueueLimits
            {
                LogicalBlockSize = options.BlockSize,
                PhysicalBlockSize = options.BlockSize,
                MaxSectors = options.MaxSectors == 0 ? new QueueLimits().MaxSectors : options.MaxSectors,
                MaxDiscardSectors = options.Discard ? uint.MaxValue >> 9 : 0,
                DiscardGranularity = options.Discard ? Math.Max(options.BlockSize, memory ? MemoryStore.PageSize : options.BlockSize) : 0,
                MaxWriteZeroesSectors = memory ? uint.MaxValue >> 9 : 0,
            },
        };
    }

    private TagSet<NullDriver, NullRequest, NullHwQueue, NullDevice> NewTagSet()
    {
        var tagSet = new TagSet<NullDriver, NullRequest, NullHwQueue, NullDevice>(
            default,
            new TagSetOptions
            {
                HardwareQueueCount = Options.SubmitQueues,
                PollQueueCount = Options.PollQueues,
                QueueDepth = Options.HwQueueDepth,
                Blocking = Options.Blocking,
                RequestTimeout = Options.RequestTimeout,
                TimeProvider = Options.TimeProvider,
                LoggerFactory = Options.LoggerFactory,
            });
        _tagSets.Add(tagSet);
        return tagSet;
    }
}
