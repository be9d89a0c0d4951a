using Microsoft.Extensions.Logging;

namespace Blkmq.Drivers;

/// <summary>What the host (a server, a benchmark) asks of a disk beyond the driver's own parameters.</summary>
public sealed record DriverCreateOptions
{
    /// <summary>Gets the name of the first disk, or <see langword="null"/> for the driver's own default; a <c>name</c> parameter in the text wins.</summary>
    public string? DiskName { get; init; }

    /// <summary>
    /// Gets the capacity in bytes to use when the parameters do not give one, rounded up to the disk's block size,
    /// or <see langword="null"/> for the driver's own default. A benchmark sets it to the region it targets.
    /// </summary>
    public long? DefaultSize { get; init; }

    /// <summary>
    /// Gets whether the host serves the disks read-only (<c>blkmq serve --read-only</c>): a driver that has a
    /// <c>readonly</c> parameter is then given <c>readonly=1</c>, so that it opens its storage read-only and shares it
    /// with other readers instead of taking the writer's lock.
    /// </summary>
    public bool ReadOnly { get; init; }

    /// <summary>Gets the logger factory for the driver and its disks, or <see langword="null"/> for none.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }
}
