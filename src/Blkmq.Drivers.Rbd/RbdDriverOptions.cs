using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Blkmq.Drivers.Rbd;

/// <summary>
/// The RBD driver's parameters, written <c>pool=POOL,image=IMAGE[,snap=SNAP][,conf=FILE][,id=USER][,create=SIZE]
/// [,readonly=1][,exclusive=0|1][,connect_timeout=S][,op_timeout=S][,poll=US][,queues=N][,depth=N][,name=NAME]</c>.
/// </summary>
public sealed record RbdDriverOptions
{
    /// <summary>Gets the pool that holds the image; <c>rbd</c> by default.</summary>
    public string Pool { get; init; } = "rbd";

    /// <summary>Gets the image's name.</summary>
    public string Image { get; init; } = string.Empty;

    /// <summary>Gets the snapshot to serve (read-only), or <see langword="null"/> for the image's head.</summary>
    public string? Snapshot { get; init; }

    /// <summary>Gets the Ceph configuration file, or <see langword="null"/> for librados' default search (<c>/etc/ceph/ceph.conf</c>, <c>CEPH_CONF</c>).</summary>
    public string? ConfigFile { get; init; }

    /// <summary>Gets the client's id (user) without the <c>client.</c> prefix; <c>admin</c> by default.</summary>
    public string Id { get; init; } = "admin";

    /// <summary>Gets the size of the image to create when it does not exist; <see langword="null"/> to require the image.</summary>
    public long? CreateSize { get; init; }

    /// <summary>Gets whether to open the image read-only (a snapshot always is).</summary>
    public bool ReadOnly { get; init; }

    /// <summary>
    /// Gets whether a writable image's exclusive lock is taken at start and kept (the default): a second writer is
    /// refused. Without it librbd hands the lock to whichever client writes (cooperative multi-attach).
    /// </summary>
    public bool Exclusive { get; init; } = true;

    /// <summary>Gets how long connecting to the cluster may take before start fails.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>
    /// Gets how long librados lets one OSD operation wait before failing it with <c>ETIMEDOUT</c>
    /// (<c>rados_osd_op_timeout</c>); <see cref="TimeSpan.Zero"/> (the default) waits as long as the cluster is away.
    /// </summary>
    public TimeSpan OperationTimeout { get; init; }

    /// <summary>
    /// Gets how long a queue's completion thread spins for the next librbd completion before it sleeps; zero (the
    /// default) sleeps at once. Spinning saves a wake-up per IO at low depth and costs a core while it spins.
    /// </summary>
    public TimeSpan Poll { get; init; }

    /// <summary>Gets the number of hardware queues, 1 to 64; each has its own completion thread.</summary>
    public int Queues { get; init; } = 1;

    /// <summary>Gets the tags per hardware queue, 1 to 4096.</summary>
    public int Depth { get; init; } = 64;

    /// <summary>Gets the disk's name.</summary>
    public string Name { get; init; } = "rbd";

    /// <summary>Gets how long a request may stay with librbd before its timeout handling runs (it then waits for librbd).</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Gets the logger factory, or <see langword="null"/> for none.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>Parses the driver's <c>key=value,...</c> text over <paramref name="baseOptions"/>.</summary>
    /// <param name="text">The parameters.</param>
    /// <param name="baseOptions">The values a key left out keeps, or <see langword="null"/> for the defaults.</param>
    /// <returns>The options.</returns>
    /// <exception cref="FormatException">A key is unknown or a value does not parse.</exception>
    public static RbdDriverOptions Parse(string text, RbdDriverOptions? baseOptions = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        RbdDriverOptions o = baseOptions ?? new RbdDriverOptions();
        foreach (string part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = part.IndexOf('=', StringComparison.Ordinal);
            string key = eq < 0 ? part : part[..eq].Trim();
            string value = eq < 0 ? "1" : part[(eq + 1)..].Trim();
            o = key.ToLowerInvariant() switch
            {
                "pool" => o with { Pool = value },
                "image" => o with { Image = value },
                "snap" or "snapshot" => o with { Snapshot = value.Length == 0 ? null : value },
                "conf" => o with { ConfigFile = value.Length == 0 ? null : value },
                "id" or "user" => o with { Id = value.StartsWith("client.", StringComparison.Ordinal) ? value["client.".Length..] : value },
                "create" => o with { CreateSize = SizeParser.Parse(value, "create") },
                "readonly" or "ro" => o with { ReadOnly = BooleanParser.Parse(value, "rbd: " + key) },
                "exclusive" => o with { Exclusive = BooleanParser.Parse(value, "rbd: " + key) },
                "connect_timeout" => o with { ConnectTimeout = TimeSpan.FromSeconds(ParseInt(key, value)) },
                "op_timeout" => o with { OperationTimeout = TimeSpan.FromSeconds(ParseInt(key, value)) },
                "poll" => o with { Poll = TimeSpan.FromMicroseconds(ParseInt(key, value)) },
                "queues" or "submit_queues" => o with { Queues = ParseInt(key, value) },
                "depth" or "hw_queue_depth" => o with { Depth = ParseInt(key, value) },
                "name" => o with { Name = value },
                _ => throw new FormatException($"rbd: unknown parameter '{key}' (known: pool, image, snap, conf, id, create, readonly, exclusive, connect_timeout, op_timeout, poll, queues, depth, name)."),
            };
        }

        return o;
    }

    /// <summary>Checks every value and throws an <see cref="ArgumentException"/> naming the first wrong one.</summary>
    /// <exception cref="ArgumentException">A value is out of range.</exception>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Image))
        {
            ThrowOutOfRange(nameof(Image), Image, "rbd: image=NAME is required.");
        }

        if (string.IsNullOrWhiteSpace(Pool))
        {
            ThrowOutOfRange(nameof(Pool), Pool, "rbd: pool=NAME must not be empty.");
        }

        CheckRange(nameof(Queues), Queues, 64, "queues");
        CheckRange(nameof(Depth), Depth, 4096, "depth");
        if (CreateSize is <= 0)
        {
            ThrowOutOfRange(nameof(CreateSize), CreateSize, "rbd: create=SIZE must be positive.");
        }

        if (CreateSize is not null && Snapshot is not null)
        {
            ThrowOutOfRange(nameof(CreateSize), CreateSize, "rbd: create= and snap= do not go together (a new image has no snapshot).");
        }

        if (ConnectTimeout <= TimeSpan.Zero)
        {
            ThrowOutOfRange(nameof(ConnectTimeout), ConnectTimeout, "rbd: connect_timeout must be at least 1 second.");
        }

        if (Poll < TimeSpan.Zero || Poll > TimeSpan.FromSeconds(1))
        {
            ThrowOutOfRange(nameof(Poll), Poll, "rbd: poll must be 0 to 1000000 microseconds.");
        }

        if (OperationTimeout < TimeSpan.Zero)
        {
            ThrowOutOfRange(nameof(OperationTimeout), OperationTimeout, "rbd: op_timeout must not be negative.");
        }
    }

    /// <summary>Formats the options in the driver's own notation.</summary>
    /// <returns>The text.</returns>
    public string Format() => string.Create(
        CultureInfo.InvariantCulture,
        $"pool={Pool},image={Image},{(Snapshot is null ? string.Empty : $"snap={Snapshot},")}{(ConfigFile is null ? string.Empty : $"conf={ConfigFile},")}id={Id},{(CreateSize is long size ? $"create={size}," : string.Empty)}readonly={(ReadOnly ? 1 : 0)},exclusive={(Exclusive ? 1 : 0)},connect_timeout={(int)ConnectTimeout.TotalSeconds},op_timeout={(int)OperationTimeout.TotalSeconds},poll={(int)Poll.TotalMicroseconds},queues={Queues},depth={Depth}");

    private static void CheckRange(string property, int value, int max, string key)
    {
        if (value < 1 || value > max)
        {
            ThrowOutOfRange(property, value, $"rbd: {key} must be 1 to {max}.");
        }
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void ThrowOutOfRange(string property, object? value, string message) =>
        throw new ArgumentOutOfRangeException(property, value, message);

    private static int ParseInt(string key, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int result)
            ? result
            : throw new FormatException($"rbd: {key} '{value}' is not a number.");
}
