namespace Blkmq.Filters;

/// <summary>
/// What one filter does to the IO passing through it (nbdkit's filter methods, device-mapper's target type): the
/// shape of the disk it exposes, and three callbacks. The default of each passes everything through unchanged, so
/// a filter overrides only what it changes. Callbacks run on any thread, several at once: state shared between IOs
/// is the filter's to make thread-safe.
/// </summary>
internal abstract class BlockFilter : IDisposable
{
    /// <summary>Gets the filter's name, as written in a stack.</summary>
    public abstract string Name { get; }

    /// <summary>Gets the filter's effective parameters, as <c>key=value,...</c>.</summary>
    public virtual string Parameters => string.Empty;

    /// <summary>
    /// Gets whether <see cref="Queue"/> may sleep (file IO, <c>fsync</c>): the filter disk is then <c>Blocking</c>
    /// (BLK_MQ_F_BLOCKING), whatever the disk below is, so the block layer never runs it where it must not sleep.
    /// </summary>
    public virtual bool Blocking => false;

    /// <summary>
    /// Gets whether the filter may sit on a zoned disk: it passes zone operations (report, append, open, close, finish,
    /// reset) through 1:1 and never rewrites where data lands (device-mapper's DM_TARGET_ZONED_HM). False by default:
    /// a filter that rewrites or drops writes (cow, blocksize, flakey, log-writes) would break the write pointers.
    /// </summary>
    public virtual bool SupportsZoned => false;

    /// <summary>Gets how long the filter may hold an IO on purpose (a delay, a rate limit).</summary>
    public virtual TimeSpan CompletionDelay => TimeSpan.Zero;

    /// <summary>
    /// Describes the disk this filter exposes over <paramref name="lower"/>: by default the lower disk's capacity,
    /// limits, flags and capabilities (block status, flush, FUA, discard, write zeroes), with one segment per request
    /// so each IO below is one buffer.
    /// </summary>
    /// <param name="lower">The disk below.</param>
    /// <param name="name">The filter disk's name.</param>
    /// <returns>The options of the filter disk.</returns>
    public virtual DiskOptions Shape(Disk lower, string name) => PassThroughShape(lower, name);

    /// <summary>
    /// Gets how the filter's disk maps each IO onto the disk below when the filter needs no request of its own: each IO
    /// goes below 1:1, at most shifted, refused or observed at its end (device-mapper's bio-based linear target). Its
    /// disk is then a <see cref="StackedDisk"/>, with no tag set, and <see cref="Queue"/>, <see cref="OnForwarded"/> and
    /// <see cref="OnTimer"/> are never called. <see langword="null"/> (the default): a request-based filter disk.
    /// </summary>
    /// <param name="lower">The disk below.</param>
    /// <returns>The mapping, or <see langword="null"/>.</returns>
    public virtual StackedDiskOptions? GetStackedMapping(Disk lower) => null;

    /// <summary>Called once the filter's own disk exists, before any IO reaches it.</summary>
    /// <param name="disk">The filter disk.</param>
    public virtual void OnAttached(Disk disk)
    {
    }

    /// <summary>Handles a new IO: end it, forward it, or park it. The default forwards it unchanged.</summary>
    /// <param name="io">The IO.</param>
    public virtual void Queue(FilterIo io) => io.Forward();

    /// <summary>Receives the status of an IO forwarded below. The default ends the upper IO with it.</summary>
    /// <param name="io">The IO.</param>
    /// <param name="status">The lower IO's status.</param>
    public virtual void OnForwarded(FilterIo io, BlockStatus status) => io.End(status);

    /// <summary>Receives an IO this filter parked on <see cref="FilterTimer"/> when its time came. The default forwards it.</summary>
    /// <param name="io">The IO.</param>
    public virtual void OnTimer(FilterIo io) => io.Forward();

    /// <summary>
    /// Called when the filter disk is about to be removed, before removal waits for the IO in flight: a filter that
    /// holds IO on purpose (a delay, a rate limit) lets it go now instead of making removal wait out its delays.
    /// </summary>
    public virtual void OnRemoving()
    {
    }

    /// <summary>Gets what the filter has to report (statistics), or <see langword="null"/>; printed on exit and by <c>blkmq ctl filters EXPORT</c>.</summary>
    /// <returns>The report's lines, or <see langword="null"/>.</returns>
    public virtual string? Report() => null;

    /// <summary>Called once the filter disk was removed, before the disk below is: flush logs, print statistics.</summary>
    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases what the filter holds (timers, files); called once the filter disk was removed.</summary>
    /// <param name="disposing">True from <see cref="Dispose()"/>.</param>
    protected virtual void Dispose(bool disposing)
    {
    }

    /// <summary>Gets the lower disk's options as a pass-through filter exposes them.</summary>
    /// <param name="lower">The disk below.</param>
    /// <param name="name">The filter disk's name.</param>
    /// <returns>The options.</returns>
    protected static DiskOptions PassThroughShape(Disk lower, string name) => new()
    {
        Name = name,
        Capacity = lower.Capacity,
        Limits = lower.Limits with { MaxSegments = 1, VirtBoundaryMask = 0 },
        ReadOnly = lower.IsReadOnly,
        Rotational = lower.IsRotational,
        WriteCache = lower.HasWriteCache,
        Fua = lower.SupportsFua,
        ReadsFillBuffers = lower.ReadsFillBuffers,
        Allocation = lower.Allocation,
        Zones = lower.Zones,
    };
}
