using System.Globalization;
using Blkmq.Drivers.Rbd.Interop;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Blkmq.Drivers.Rbd;

/// <summary>
/// An open RBD image and the cluster connection behind it: what the disk's queues submit to and what its allocation
/// map reads. Owns the <c>rados_t</c>, the pool's <c>rados_ioctx_t</c> and the <c>rbd_image_t</c>; disposing closes
/// them in reverse order, after the disk is gone (no IO may be in flight then).
/// </summary>
public sealed class RbdImage : IDisposable
{
    private nint _cluster;
    private nint _ioctx;
    private nint _image;

    private RbdImage(RbdDriverOptions options, ILogger logger)
    {
        Options = options;
        Logger = logger;
    }

    /// <summary>Gets the parameters the image was opened with.</summary>
    public RbdDriverOptions Options { get; }

    /// <summary>Gets the disk's name.</summary>
    public string Name => Options.Name;

    /// <summary>Gets <c>pool/image[@snap]</c>.</summary>
    public string Spec => Options.Snapshot is null ? $"{Options.Pool}/{Options.Image}" : $"{Options.Pool}/{Options.Image}@{Options.Snapshot}";

    /// <summary>Gets the image's size in bytes (the disk's capacity).</summary>
    public long Size { get; private set; }

    /// <summary>Gets the image's object size in bytes.</summary>
    public long ObjectSize { get; private set; }

    /// <summary>Gets the image's feature bits (<c>RBD_FEATURE_*</c>).</summary>
    public ulong Features { get; private set; }

    /// <summary>Gets whether the image is served read-only (asked for, or a snapshot).</summary>
    public bool ReadOnly { get; private set; }

    /// <summary>Gets whether this client took and keeps the image's exclusive lock.</summary>
    public bool HoldsExclusiveLock { get; private set; }

    /// <summary>Gets whether the image was created at start.</summary>
    public bool Created { get; private set; }

    internal nint Handle => _image;

    internal TagSet<RbdDriver, RbdRequest, RbdHwQueue, RbdImage> TagSet { get; set; } = null!;

    internal RbdHwQueue?[] HwQueues { get; set; } = [];

    internal ILogger Logger { get; }

    /// <summary>Connects to the cluster of <paramref name="options"/> and opens the image.</summary>
    /// <param name="options">The parameters (validated).</param>
    /// <returns>The open image.</returns>
    /// <exception cref="IOException">The configuration, cluster, pool, image or snapshot cannot be reached or opened, or another client holds the exclusive lock; one line naming the cause.</exception>
    /// <exception cref="DllNotFoundException">librados or librbd is not installed.</exception>
    public static RbdImage Open(RbdDriverOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        ILogger logger = options.LoggerFactory?.CreateLogger("Blkmq.Drivers.Rbd") ?? NullLogger.Instance;
        var image = new RbdImage(options, logger);
        try
        {
            image.Connect();
            image.OpenImage();
            return image;
        }
        catch
        {
            image.Dispose();
            throw;
        }
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_image != 0)
        {
            _ = Librbd.Close(_image);
            _image = 0;
        }

        if (_ioctx != 0)
        {
            Librados.IoctxDestroy(_ioctx);
            _ioctx = 0;
        }

        if (_cluster != 0)
        {
            Librados.Shutdown(_cluster);
            _cluster = 0;
        }
    }

    private void Connect()
    {
        RbdDriverOptions o = Options;
        string prefix = $"rbd: {Spec}";
        int r = Librados.Create2(out _cluster, "ceph", "client." + o.Id, 0);
        if (r < 0)
        {
            throw new IOException($"{prefix}: rados_create2 for client.{o.Id} failed ({RbdStatus.Describe(r)}).");
        }

        r = Librados.ConfReadFile(_cluster, o.ConfigFile);
        if (r < 0)
        {
            throw new IOException(o.ConfigFile is null
                ? $"{prefix}: no Ceph configuration found (/etc/ceph/ceph.conf or CEPH_CONF): {RbdStatus.Describe(r)}; pass conf=FILE."
                : $"{prefix}: cannot read Ceph configuration {o.ConfigFile} ({RbdStatus.Describe(r)}).");
        }

        string timeout = ((int)Math.Ceiling(o.ConnectTimeout.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        string opTimeout = ((int)Math.Ceiling(o.OperationTimeout.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        Set("client_mount_timeout", timeout);
        Set("rados_mon_op_timeout", timeout);
        Set("rados_osd_op_timeout", opTimeout);

        // librbd's cache starts in write-through until the first flush by default, for guests that never flush; a
        // block layer forwards every flush (and FUA as a flush), so write-back from the start loses nothing.
        Set("rbd_cache_writethrough_until_flush", "false");
        r = Librados.Connect(_cluster);
        if (r < 0)
        {
            string why = -r switch
            {
                Errno.ETIMEDOUT => $"no monitor answered within {timeout} s (is the cluster up and mon_host right?)",
                Errno.EACCES or Errno.EPERM => $"authentication as client.{o.Id} was refused (wrong key or keyring?)",
                Errno.ENOENT => $"no keyring or key for client.{o.Id}",
                _ => RbdStatus.Describe(r),
            };
            throw new IOException($"{prefix}: cannot connect to the Ceph cluster: {why}.");
        }

        r = Librados.IoctxCreate(_cluster, o.Pool, out _ioctx);
        if (r < 0)
        {
            throw new IOException(-r == Errno.ENOENT
                ? $"{prefix}: pool '{o.Pool}' does not exist."
                : $"{prefix}: cannot open pool '{o.Pool}' ({RbdStatus.Describe(r)}).");
        }
    }

    private void Set(string option, string value)
    {
        int r = Librados.ConfSet(_cluster, option, value);
        if (r < 0)
        {
            throw new IOException($"rbd: {Spec}: rados_conf_set {option}={value} failed ({RbdStatus.Describe(r)}).");
        }
    }

    private unsafe void OpenImage()
    {
        RbdDriverOptions o = Options;
        string prefix = $"rbd: {Spec}";
        ReadOnly = o.ReadOnly || o.Snapshot is not null;
        int r = ReadOnly
            ? Librbd.OpenReadOnly(_ioctx, o.Image, out _image, o.Snapshot)
            : Librbd.Open(_ioctx, o.Image, out _image, null);
        if (r == -Errno.ENOENT && o.CreateSize is long size)
        {
            int order = 0;
            r = Librbd.Create(_ioctx, o.Image, (ulong)size, ref order);
            if (r < 0 && r != -Errno.EEXIST)
            {
                throw new IOException($"{prefix}: cannot create the image ({RbdStatus.Describe(r)}).");
            }

            Created = r == 0;
            r = ReadOnly
                ? Librbd.OpenReadOnly(_ioctx, o.Image, out _image, null)
                : Librbd.Open(_ioctx, o.Image, out _image, null);
        }

        if (r < 0)
        {
            _image = 0;
            throw new IOException(-r == Errno.ENOENT
                ? o.Snapshot is null
                    ? $"{prefix}: image '{o.Image}' does not exist in pool '{o.Pool}' (create=SIZE creates it)."
                    : $"{prefix}: image '{o.Image}' or its snapshot '{o.Snapshot}' does not exist in pool '{o.Pool}'."
                : $"{prefix}: cannot open the image ({RbdStatus.Describe(r)}).");
        }

        RbdImageInfo info;
        r = Librbd.Stat(_image, &info, (nuint)sizeof(RbdImageInfo));
        if (r < 0)
        {
            throw new IOException($"{prefix}: rbd_stat failed ({RbdStatus.Describe(r)}).");
        }

        Size = (long)(info.Size & ~511UL);
        ObjectSize = (long)info.ObjectSize;
        r = Librbd.GetFeatures(_image, out ulong features);
        Features = r < 0 ? 0 : features;
        if (!ReadOnly && o.Exclusive && (Features & Librbd.FeatureExclusiveLock) != 0)
        {
            // A managed lock: librbd neither hands it to a peer that asks nor lets a peer's writes through, so a
            // second writer is refused instead of the two trading the lock (and the data) back and forth.
            r = Librbd.LockAcquire(_image, Librbd.LockModeExclusive);
            if (r < 0)
            {
                throw new IOException(-r is Errno.EROFS or Errno.EBUSY
                    ? $"{prefix}: another client holds the image's exclusive lock (serve with exclusive=0 to share it, or readonly=1)."
                    : $"{prefix}: cannot take the image's exclusive lock ({RbdStatus.Describe(r)}).");
            }

            HoldsExclusiveLock = true;
        }
    }
}
