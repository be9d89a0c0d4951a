using Blkmq.Drivers;

namespace Blkmq.Filters;

/// <summary>
/// One running filter disk over a lower disk: the disk (a request-based one with its own tag set, or for a filter that
/// maps IO 1:1 a bio-based <see cref="StackedDisk"/> without one), the filter, and the instance that owns the disk
/// below (which may itself be a filter). Disposing removes the filter disk (in-flight IO drains), disposes the filter,
/// then the lower instance: the stack comes down from the client side.
/// </summary>
internal sealed class FilterBlock : IAsyncDisposable
{
    private readonly TagSet<FilterDriver, FilterRequestData, FilterQueue, FilterDiskData>? _tagSet;
    private int _disposed;

    private FilterBlock(BlockFilter filter, DriverInstance lower, TagSet<FilterDriver, FilterRequestData, FilterQueue, FilterDiskData>? tagSet, Disk disk)
    {
        Filter = filter;
        Lower = lower;
        _tagSet = tagSet;
        Disk = disk;
    }

    /// <summary>Gets the filter.</summary>
    public BlockFilter Filter { get; }

    /// <summary>Gets the instance that owns the disk below.</summary>
    public DriverInstance Lower { get; }

    /// <summary>Gets the filter disk.</summary>
    public Disk Disk { get; }

    /// <summary>Puts <paramref name="filter"/> over the first disk of <paramref name="lower"/>.</summary>
    /// <param name="filter">The filter; owned by the block from now on.</param>
    /// <param name="lower">The instance below; owned by the block from now on.</param>
    /// <returns>The running filter disk.</returns>
    /// <exception cref="ArgumentException">The lower disk cannot take this filter (a zoned disk under a filter that does not support zones).</exception>
    public static FilterBlock Create(BlockFilter filter, DriverInstance lower)
    {
        Disk below = lower.Disk;
        if (below.IsZoned && !filter.SupportsZoned)
        {
            throw new ArgumentException(
                $"filter '{filter.Name}' cannot sit on zoned disk '{below.Name}': it rewrites or drops writes, which breaks the zones' write pointers (pass, stats, readonly, offset, delay, rate and error can).",
                nameof(lower));
        }

        // Each layer's disk is named after the stack up to it ("vm0|delay|stats"): logs, statistics and the metrics'
        // disk label tell the layers apart.
        if (filter.GetStackedMapping(below) is { } mapping)
        {
            // Bio-based: the IO goes below unsplit and unmerged-again, so the disk keeps the lower segment limits.
            DiskOptions shape = filter.Shape(below, $"{below.Name}|{filter.Name}");
            shape = shape with { Limits = shape.Limits with { MaxSegments = below.Limits.MaxSegments, VirtBoundaryMask = below.Limits.VirtBoundaryMask } };
            var stacked = StackedDisk.Create(below, shape, mapping);
            filter.OnAttached(stacked);
            return new FilterBlock(filter, lower, tagSet: null, stacked);
        }

        TagSetOptions lowerOptions = below.TagSet.Options;
        var options = new TagSetOptions
        {
            // The stack is as concurrent as its strictest member: the same queues and depth as below, and blocking
            // when the disk below may sleep in QueueRq (a forwarded IO may run it on this submitter's thread) or the
            // filter itself may (a file overlay, a log file).
            HardwareQueueCount = lowerOptions.HardwareQueueCount,
            QueueDepth = lowerOptions.QueueDepth,
            MaxSegments = 1,
            Blocking = lowerOptions.Blocking || filter.Blocking,
            RequestTimeout = lowerOptions.RequestTimeout,
            LoggerFactory = lowerOptions.LoggerFactory,
        };
        var tagSet = new TagSet<FilterDriver, FilterRequestData, FilterQueue, FilterDiskData>(default, options);
        try
        {
            Disk disk = tagSet.AddDisk(new FilterDiskData(new FilterDisk(filter, below)), filter.Shape(below, $"{below.Name}|{filter.Name}"));
            filter.OnAttached(disk);
            return new FilterBlock(filter, lower, tagSet, disk);
        }
        catch
        {
            tagSet.Dispose();
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
            Filter.OnRemoving();
            await Disk.RemoveAsync().ConfigureAwait(false);
            if (_tagSet is not null)
            {
                await _tagSet.DisposeAsync().ConfigureAwait(false);
            }

            Filter.Dispose();
        }
        finally
        {
            await Lower.DisposeAsync().ConfigureAwait(false);
        }
    }
}
