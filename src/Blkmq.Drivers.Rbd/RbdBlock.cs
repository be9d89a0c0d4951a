namespace Blkmq.Drivers.Rbd;

/// <summary>
/// A running RBD disk: the open image (<see cref="RbdImage"/>), its tag set and the <see cref="Blkmq.Disk"/> users do
/// IO on. Disposing removes the disk (in-flight IO drains), stops the completion threads, closes the image (which
/// releases its exclusive lock) and disconnects from the cluster.
/// </summary>
public sealed class RbdBlock : IAsyncDisposable
{
    private readonly TagSet<RbdDriver, RbdRequest, RbdHwQueue, RbdImage> _tagSet;
    private int _disposed;

    private RbdBlock(RbdImage image, TagSet<RbdDriver, RbdRequest, RbdHwQueue, RbdImage> tagSet, Disk disk)
    {
        Image = image;
        _tagSet = tagSet;
        Disk = disk;
    }

    /// <summary>Gets the open image.</summary>
    public RbdImage Image { get; }

    /// <summary>Gets the disk.</summary>
    public Disk Disk { get; }

    /// <summary>Connects to the cluster of <paramref name="options"/>, opens the image and adds a disk for it.</summary>
    /// <param name="options">The parameters.</param>
    /// <returns>The running disk; dispose it to close the image.</returns>
    /// <exception cref="ArgumentException">A parameter is out of range.</exception>
    /// <exception cref="IOException">The cluster, pool or image cannot be reached or opened; one line naming the cause.</exception>
    /// <exception cref="DllNotFoundException">librados or librbd is not installed.</exception>
    public static RbdBlock Create(RbdDriverOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        RbdImage image = RbdImage.Open(options);
        TagSet<RbdDriver, RbdRequest, RbdHwQueue, RbdImage>? tagSet = null;
        try
        {
            var tagSetOptions = new TagSetOptions
            {
                HardwareQueueCount = options.Queues,
                QueueDepth = options.Depth,
                RequestTimeout = options.RequestTimeout,
                LoggerFactory = options.LoggerFactory,
            };
            tagSet = new TagSet<RbdDriver, RbdRequest, RbdHwQueue, RbdImage>(new RbdDriver(options.Depth, tagSetOptions.MaxSegments), tagSetOptions);
            image.TagSet = tagSet;
            image.HwQueues = new RbdHwQueue?[tagSetOptions.TotalQueueCount];
            Disk disk = tagSet.AddDisk(image, new DiskOptions
            {
                Name = options.Name,
                Capacity = image.Size,
                Limits = new QueueLimits
                {
                    LogicalBlockSize = 512,
                    PhysicalBlockSize = 4096,
                    MaxSegments = tagSetOptions.MaxSegments,
                    MaxDiscardSectors = int.MaxValue >> 9,
                    MaxWriteZeroesSectors = int.MaxValue >> 9,
                },
                ReadOnly = image.ReadOnly,
                WriteCache = true,
                Fua = false,
                ReadsFillBuffers = true,
                Allocation = new RbdAllocation(image),
            });
            RbdLog.Opened(image.Logger, options.Name, image.Spec, image.Size, image.ObjectSize, image.Features, image.ReadOnly ? ", read-only" : string.Empty, image.HoldsExclusiveLock ? ", exclusive lock held" : string.Empty, image.Created ? ", created" : string.Empty);
            return new RbdBlock(image, tagSet, disk);
        }
        catch
        {
            tagSet?.Dispose();
            image.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        try
        {
            await Disk.RemoveAsync().ConfigureAwait(false);
            await _tagSet.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            Image.Dispose();
        }
    }
}
