namespace Blkmq.Concurrency.Tests.Infrastructure;

/// <summary>A tag set of the probe driver with one disk on it, torn down (hang-guarded) on dispose.</summary>
public sealed class ProbeRig : IAsyncDisposable
{
    private ProbeRig(DriverProbe probe, TagSet<ProbeDriver, ProbeRequest, ProbeHwQueue, DriverProbe> tagSet, Disk disk)
    {
        Probe = probe;
        TagSet = tagSet;
        Disk = disk;
        Device = disk.OpenDevice();
    }

    /// <summary>Gets the probe shared by the driver and the disk.</summary>
    public DriverProbe Probe { get; }

    /// <summary>Gets the tag set.</summary>
    public TagSet<ProbeDriver, ProbeRequest, ProbeHwQueue, DriverProbe> TagSet { get; }

    /// <summary>Gets the disk.</summary>
    public Disk Disk { get; }

    /// <summary>Gets a block device on the disk.</summary>
    public BlockDevice Device { get; }

    /// <summary>
    /// Creates a tag set and adds a 1 MiB disk (or <paramref name="diskOptions"/>), checking first that the block
    /// layer sees every optional member of the probe driver: an optional member whose signature drifted from the
    /// interface silently falls back to the interface's default body.
    /// </summary>
    /// <param name="options">The tag set's shape.</param>
    /// <param name="probe">The probe; a new one when null.</param>
    /// <param name="diskOptions">The disk's shape; a 1 MiB disk named probe0 when null.</param>
    /// <returns>The rig.</returns>
    public static ProbeRig Create(TagSetOptions options, DriverProbe? probe = null, DiskOptions? diskOptions = null)
    {
        if (!(DriverTraits<ProbeDriver, ProbeRequest, ProbeHwQueue, DriverProbe>.HasComplete
            && DriverTraits<ProbeDriver, ProbeRequest, ProbeHwQueue, DriverProbe>.HasTimeout
            && DriverTraits<ProbeDriver, ProbeRequest, ProbeHwQueue, DriverProbe>.HasPoll
            && DriverTraits<ProbeDriver, ProbeRequest, ProbeHwQueue, DriverProbe>.HasCommitRqs
            && DriverTraits<ProbeDriver, ProbeRequest, ProbeHwQueue, DriverProbe>.HasExitHctx))
        {
            throw new InvalidOperationException("The probe driver no longer implements every optional driver member; update its signatures.");
        }

        probe ??= new DriverProbe();
        probe.HardwareQueueCount = options.HardwareQueueCount;
        var tagSet = new TagSet<ProbeDriver, ProbeRequest, ProbeHwQueue, DriverProbe>(default, options);
        Disk disk = tagSet.AddDisk(probe, diskOptions ?? new DiskOptions { Name = "probe0", Capacity = 1 << 20 });
        return new ProbeRig(probe, tagSet, disk);
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await TagSet.DisposeAsync().AsTask().Guard();
    }
}
