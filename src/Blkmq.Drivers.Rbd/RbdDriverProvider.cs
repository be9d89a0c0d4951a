using Blkmq.Drivers;

namespace Blkmq.Drivers.Rbd;

/// <summary>
/// The RBD driver's entry in a <see cref="DriverRegistry"/>: <c>rbd:pool=POOL,image=IMAGE[,snap=S][,conf=FILE]
/// [,id=USER][,create=SIZE]…</c> creates one <see cref="RbdBlock"/>, which <see cref="DriverInstance.Owner"/> is.
/// </summary>
public static class RbdDriverProvider
{
    /// <summary>The driver's name.</summary>
    public const string Name = "rbd";

    private static readonly RbdDriverOptions s_defaults = new();

    /// <summary>Gets the <c>rbd</c> driver.</summary>
    public static DriverDescriptor Rbd { get; } = new(
        Name,
        "A Ceph RBD image through librbd (librbd1, librados2): the data lives on the cluster, replicated as its pool says.",
        [
            new("pool", "The pool that holds the image.", s_defaults.Pool),
            new("image", "The image's name (required).", string.Empty),
            new("snap", "Serve this snapshot of the image, read-only.", string.Empty),
            new("conf", "The Ceph configuration file (default: librados' search, /etc/ceph/ceph.conf or CEPH_CONF).", string.Empty),
            new("id", "The Ceph client id (user), without 'client.'.", s_defaults.Id),
            new("create", "Create the image with this size (K, M, G, T suffixes) when it does not exist.", string.Empty),
            new("readonly", "Open the image read-only.", "0"),
            new("exclusive", "Take and keep the image's exclusive lock, refusing other writers (0: librbd passes the lock to whoever writes).", "1"),
            new("connect_timeout", "Seconds to wait for the cluster at start.", "20"),
            new("op_timeout", "Seconds before librados fails an OSD operation with ETIMEDOUT (0: wait while the cluster is away).", "0"),
            new("poll", "Microseconds a completion thread spins for the next completion before sleeping (0: sleep at once).", "0"),
            new("queues", "Hardware queues, each with its own completion thread, 1 to 64.", "1"),
            new("depth", "Tags per hardware queue, 1 to 4096.", "64"),
            new("name", "The disk's name (a server uses the export name).", s_defaults.Name),
        ],
        static (parameters, options) => Create(parameters, options),
        static (parameters, options) => RbdDriverOptions.Parse(parameters, options.DiskName is { } name ? s_defaults with { Name = name } : s_defaults).Validate(),
        static (parameters, options) => [RbdDriverOptions.Parse(parameters, options.DiskName is { } name ? s_defaults with { Name = name } : s_defaults).Name]);

    /// <summary>Adds <c>rbd</c> to <paramref name="registry"/>.</summary>
    /// <param name="registry">The registry.</param>
    /// <exception cref="ArgumentException">The registry already has a driver of that name.</exception>
    public static void Register(DriverRegistry registry)
    {
        ArgumentNullException.ThrowIfNull(registry);
        registry.Add(Rbd);
    }

    private static DriverInstance Create(string parameters, DriverCreateOptions options)
    {
        RbdDriverOptions start = options.DiskName is { } name ? s_defaults with { Name = name } : s_defaults;
        RbdDriverOptions parsed = RbdDriverOptions.Parse(parameters, start) with { LoggerFactory = options.LoggerFactory };
        RbdBlock block;
        try
        {
            block = RbdBlock.Create(parsed);
        }
        catch (DllNotFoundException e)
        {
            throw new IOException($"rbd: librbd.so.1 / librados.so.2 are not installed (apt-get install librbd1): {e.Message}", e);
        }

        RbdImage image = block.Image;
        return new DriverInstance
        {
            DriverName = Name,
            Disks = [block.Disk],
            Owner = block,
            Summary = FormattableString.Invariant($"rbd {image.Spec}, {image.Size} bytes, {image.ObjectSize}-byte objects{(image.ReadOnly ? ", read-only" : string.Empty)}{(image.HoldsExclusiveLock ? ", exclusive lock" : string.Empty)}"),
            Parameters = parsed.Format(),
        };
    }
}
