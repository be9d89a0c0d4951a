namespace Blkmq.Drivers.Null;

/// <summary>
/// A running null block instance (the null_blk module with its configfs tree): its devices, named <c>nullb0</c>,
/// <c>nullb1</c>, ..., their disks and tag sets. With <c>shared_tags</c> all devices share one tag set, so their
/// total in flight per queue is <c>hw_queue_depth</c>; otherwise each has its own. Devices are added, powered on
/// and off, changed (bad blocks, zone conditions) and removed while the instance runs.
/// </summary>
public sealed class NullBlock : IAsyncDisposable, IDisposable
{
    private readonly Lock _lock = new();
    private readonly TagSet<NullDriver, NullRequest, NullHwQueue, NullDevice>? _sharedTagSet;
    private NullDevice[] _devices = [];
    private Disk[] _disks = [];
    private bool _disposed;

    private NullBlock(NullBlockOptions options)
    {
        Options = options;
        if (options.SharedTags)
        {
            _sharedTagSet = NewTagSet(options);
        }
    }

    /// <summary>Gets the parameters the instance was created with (the defaults for <see cref="AddDevice"/>).</summary>
    public NullBlockOptions Options { get; }

    /// <summary>Gets the disks of the devices that are powered on, in device order (a snapshot).</summary>
    public IReadOnlyList<Disk> Disks => Volatile.Read(ref _disks);

    /// <summary>Gets the first powered-on disk.</summary>
    /// <exception cref="InvalidOperationException">No device is powered on.</exception>
    public Disk Disk
    {
        get
        {
            Disk[] disks = Volatile.Read(ref _disks);
            return disks.Length > 0 ? disks[0] : throw new InvalidOperationException("No null block device is powered on.");
        }
    }

    /// <summary>Gets the devices (per-disk driver data: power, bad blocks, zones, memory), in index order (a snapshot).</summary>
    public IReadOnlyList<NullDevice> Devices => Volatile.Read(ref _devices);

    /// <summary>Gets the tag sets: one when <c>shared_tags</c>, else one per device (a snapshot).</summary>
    public IReadOnlyList<TagSetCore> TagSets
    {
        get
        {
            if (_sharedTagSet is not null)
            {
                return [_sharedTagSet];
            }

            NullDevice[] devices = Volatile.Read(ref _devices);
            var tagSets = new TagSetCore[devices.Length];
            for (int i = 0; i < devices.Length; i++)
            {
                tagSets[i] = devices[i].TagSet;
            }

            return tagSets;
        }
    }

    /// <summary>Creates the tag set(s) and the <c>nr_devices</c> powered-on devices described by <paramref name="options"/>.</summary>
    /// <param name="options">The null_blk parameters.</param>
    /// <returns>The instance; dispose it to remove the disks.</returns>
    /// <exception cref="ArgumentException">A parameter is out of range.</exception>
    /// <exception cref="IOException">An injected <c>init_hctx</c> fault failed a disk.</exception>
    public static NullBlock Create(NullBlockOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var instance = new NullBlock(options);
        try
        {
            for (int i = 0; i < options.NrDevices; i++)
            {
                instance.AddDevice(options);
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

    /// <summary>
    /// Adds a device and powers it on (null_blk's <c>mkdir /sys/kernel/config/nullb/...</c> then <c>power=1</c>):
    /// it gets the lowest free index. With <c>shared_tags</c> it joins the shared tag set, whose shape (queues,
    /// depth, blocking, timeout) comes from the instance's options; otherwise it gets a tag set of its own.
    /// </summary>
    /// <param name="options">The device's parameters; default the instance's (<see cref="NullBlockOptions.NrDevices"/> and <see cref="NullBlockOptions.SharedTags"/> are ignored).</param>
    /// <returns>The device, powered on.</returns>
    /// <exception cref="ObjectDisposedException">The instance was disposed.</exception>
    /// <exception cref="ArgumentException">A parameter is out of range.</exception>
    /// <exception cref="IOException">An injected <c>init_hctx</c> fault failed the disk; nothing was added.</exception>
    public NullDevice AddDevice(NullBlockOptions? options = null)
    {
        options ??= Options;
        options.Validate();
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            int index = 0;
            foreach (NullDevice existing in _devices)
            {
                if (existing.Index == index)
                {
                    index++;
                }
            }

            TagSet<NullDriver, NullRequest, NullHwQueue, NullDevice> tagSet = _sharedTagSet ?? NewTagSet(options);
            var device = new NullDevice(options, index, tagSet, ownsTagSet: _sharedTagSet is null, OnPowerChanged);
            try
            {
                device.PowerOn();
            }
            catch
            {
                device.MarkRemoved();
                if (device.OwnsTagSet)
                {
                    tagSet.Dispose();
                }

                throw;
            }

            NullDevice[] devices = [.. _devices, device];
            Array.Sort(devices, static (a, b) => a.Index.CompareTo(b.Index));
            Volatile.Write(ref _devices, devices);
            RefreshDisks();
            return device;
        }
    }

    /// <summary>Gets the device with index <paramref name="index"/> (the number in its name).</summary>
    /// <param name="index">The device's index.</param>
    /// <returns>The device.</returns>
    /// <exception cref="KeyNotFoundException">No device has that index.</exception>
    public NullDevice GetDevice(int index)
    {
        foreach (NullDevice device in Volatile.Read(ref _devices))
        {
            if (device.Index == index)
            {
                return device;
            }
        }

        throw new KeyNotFoundException($"No null block device has index {index}.");
    }

    /// <summary>
    /// Powers the device off and removes it (null_blk's <c>rmdir</c>): its disk goes (in-flight IO drains or fails),
    /// its data is freed and its index can be reused.
    /// </summary>
    /// <param name="index">The device's index.</param>
    /// <returns>A task that completes when the device is gone.</returns>
    /// <exception cref="KeyNotFoundException">No device has that index.</exception>
    public async ValueTask RemoveDeviceAsync(int index)
    {
        NullDevice device;
        lock (_lock)
        {
            device = GetDevice(index);
            device.MarkRemoved();
            NullDevice[] devices = Array.FindAll(_devices, d => d != device);
            Volatile.Write(ref _devices, devices);
        }

        await device.PowerOffAsync().ConfigureAwait(false);
        if (device.OwnsTagSet)
        {
            await device.TagSet.DisposeAsync().ConfigureAwait(false);
        }

        lock (_lock)
        {
            RefreshDisks();
        }
    }

    /// <summary>Simulates a power cut on one device: its write cache is lost (see <see cref="NullDevice.PowerCut"/>).</summary>
    /// <param name="index">The device's index.</param>
    public void PowerCut(int index) => GetDevice(index).PowerCut();

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        NullDevice[] devices;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            devices = _devices;
            foreach (NullDevice device in devices)
            {
                device.MarkRemoved();
            }
        }

        foreach (NullDevice device in devices)
        {
            await device.PowerOffAsync().ConfigureAwait(false);
            if (device.OwnsTagSet)
            {
                await device.TagSet.DisposeAsync().ConfigureAwait(false);
            }
        }

        if (_sharedTagSet is not null)
        {
            await _sharedTagSet.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <inheritdoc/>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    private static TagSet<NullDriver, NullRequest, NullHwQueue, NullDevice> NewTagSet(NullBlockOptions options) =>
        new(
            default,
            new TagSetOptions
            {
                HardwareQueueCount = options.SubmitQueues,
                PollQueueCount = options.PollQueues,
                QueueDepth = options.HwQueueDepth,
                Blocking = options.Blocking,
                RequestTimeout = options.RequestTimeout,
                TimeProvider = options.TimeProvider,
                LoggerFactory = options.LoggerFactory,
            });

    private void OnPowerChanged(NullDevice device)
    {
        lock (_lock)
        {
            RefreshDisks();
        }
    }

    private void RefreshDisks()
    {
        var disks = new List<Disk>();
        foreach (NullDevice device in _devices)
        {
            if (device.Disk is { } disk)
            {
                disks.Add(disk);
            }
        }

        Volatile.Write(ref _disks, [.. disks]);
    }
}
