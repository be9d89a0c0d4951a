using System.Globalization;
using System.Numerics;
using System.Runtime.InteropServices;
using Blkmq.Frontend;
using Blkmq.Ublk.Interop;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Blkmq.Ublk;

/// <summary>
/// A Blkmq export served as a real Linux block device, <c>/dev/ublkbN</c>, through the kernel's ublk driver
/// (<c>ublk_drv</c>, Linux 6.0+): the kernel's own blk-mq queues the requests, this server's queue threads end them.
/// </summary>
/// <remarks>
/// <para>Life cycle: <see cref="Start"/> runs ADD_DEV (queues, depth, max IO size, flags from GET_FEATURES),
/// SET_PARAMS (from the disk's limits), maps each queue's descriptor array, starts one thread and ring per queue,
/// waits until every tag is fetched, then START_DEV, after which <c>/dev/ublkbN</c> exists. <see cref="Dispose"/>
/// runs STOP_DEV (the block device goes away once its in-flight IO completed), ends the queue threads, unmaps and
/// closes <c>/dev/ublkcN</c> (DEL_DEV waits for that), then DEL_DEV.</para>
/// <para>Data moves through a per-tag buffer: the kernel copies into it (writes) and out of it (reads), or, with
/// USER_COPY (<see cref="UblkDeviceOptions.UserCopy"/>), the queue thread does with <c>pread</c> / <c>pwrite</c> on
/// <c>/dev/ublkcN</c>. A server that dies
/// without STOP_DEV leaves a dead device that fails its IO (or, <see cref="UblkDeviceOptions.Recoverable"/>, one that
/// waits for <see cref="Recover"/>); <c>blkmq ublk delete N</c> removes what is left.</para>
/// <para>The server must not share a mount namespace with users of its own devices: a file system mounted on
/// <c>/dev/ublkbN</c> whose writeback needs this process while this process waits on that file system deadlocks.</para>
/// </remarks>
public sealed unsafe class UblkDevice : IDisposable
{
    private readonly UblkControl _control;
    private readonly ILogger _logger;
    private readonly List<UblkQueue> _queues = [];
    private readonly List<(nint Address, nuint Size)> _maps = [];
    private readonly List<nint> _buffers = [];
    private int _cdevFd = -1;
    private bool _owned;
    private bool _started;
    private bool _disposed;
    private volatile bool _failed;

    private UblkDevice(UblkControl control, ILogger logger)
    {
        _control = control;
        _logger = logger;
    }

    /// <summary>Gets the device number N.</summary>
    public uint DeviceId { get; private set; } = uint.MaxValue;

    /// <summary>Gets the block device's path, <c>/dev/ublkbN</c>.</summary>
    public string BlockDevicePath => "/dev/ublkb" + DeviceId.ToString(CultureInfo.InvariantCulture);

    /// <summary>Gets the character device's path, <c>/dev/ublkcN</c>.</summary>
    public string CharDevicePath => "/dev/ublkc" + DeviceId.ToString(CultureInfo.InvariantCulture);

    /// <summary>Gets the <c>UBLK_F_*</c> flags the device was created with.</summary>
    public ulong Flags { get; private set; }

    /// <summary>
    /// Gets the device's hardware queues as the kernel created them: ADD_DEV lowers the count asked for to the number
    /// of possible CPUs (<c>nr_cpu_ids</c>), and only that many queues may be mapped and fetched.
    /// </summary>
    public int QueueCount { get; private set; }

    /// <summary>Gets whether request data moves with <c>pread</c> / <c>pwrite</c> on <c>/dev/ublkcN</c> (<c>UBLK_F_USER_COPY</c>).</summary>
    public bool IsUserCopy => (Flags & UblkConstants.FlagUserCopy) != 0;

    /// <summary>Gets whether the device is owned by its creating user (<c>UBLK_F_UNPRIVILEGED_DEV</c>).</summary>
    public bool IsUnprivileged => (Flags & UblkConstants.FlagUnprivilegedDev) != 0;

    /// <summary>Gets the <c>UBLK_F_*</c> flags the kernel supports (GET_FEATURES; 0 before Linux 6.5).</summary>
    public ulong KernelFeatures { get; private set; }

    /// <summary>Gets whether a queue's ring failed or the kernel aborted a queue (the device was stopped from outside).</summary>
    public bool HasFailed => _failed || _queues.Exists(static q => q.HasExited);

    /// <summary>Creates and starts a ublk device for <paramref name="export"/>.</summary>
    /// <param name="export">The export; its current disk is served.</param>
    /// <param name="options">Queues, depth, IO size, device number; default <see cref="UblkDeviceOptions"/>.</param>
    /// <param name="loggerFactory">Where device events are logged.</param>
    /// <returns>The started device; <see cref="BlockDevicePath"/> exists.</returns>
    /// <exception cref="UblkException">A control command failed (no ublk_drv, not root, the number is taken, ...); nothing is left behind.</exception>
    /// <exception cref="NotSupportedException">The disk is zoned without zone append, or zoned where the device cannot have USER_COPY (a kernel before 6.6, user copy off, unprivileged).</exception>
    public static UblkDevice Start(BlockExport export, UblkDeviceOptions? options = null, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(export);
        options ??= new UblkDeviceOptions();
        options.Validate();
        ExportTarget target = export.Target;
        options = options.ResolveFor(target.Disk);
        if (target.Disk.IsZoned && target.Disk.Limits.MaxZoneAppendSectors == 0)
        {
            // The kernel refuses a zoned ublk device whose max_zone_append_sectors is 0.
            throw new NotSupportedException($"export '{export.Name}': a zoned disk needs zone append to be served over ublk.");
        }

        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("ublk needs Linux.");
        }

        ILogger logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Blkmq.Ublk");
        UblkControl control = UblkControl.Open();
        var device = new UblkDevice(control, logger);
        try
        {
            device.Create(target, options);
            device.StartQueues(target, device.QueueCount, options.QueueDepth, options.MaxIoBytes);
            int result = control.StartDevice(device.DeviceId);
            if (result < 0)
            {
                throw new UblkException(UblkControl.Describe("START_DEV", device.DeviceId, result), -result);
            }

            device._started = true;
            if (logger.IsEnabled(LogLevel.Information))
            {
                string flags = UblkConstants.DescribeFlags(device.Flags);
                string path = device.BlockDevicePath;
                UblkLog.Started(logger, device.DeviceId, export.Name, path, device.QueueCount, options.QueueDepth, options.MaxIoBytes, flags);
            }

            return device;
        }
        catch
        {
            device.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Takes over a recoverable device whose server died (<see cref="UblkDeviceOptions.Recoverable"/>):
    /// START_USER_RECOVERY, new queues that fetch every tag, END_USER_RECOVERY; the IO the dead server held is
    /// reissued to this one.
    /// </summary>
    /// <param name="export">The export to serve from now on (the same data as before, or the file system sees garbage).</param>
    /// <param name="deviceId">The device number.</param>
    /// <param name="loggerFactory">Where device events are logged.</param>
    /// <returns>The device, served by this process.</returns>
    /// <exception cref="UblkException">The device does not exist, is not recoverable, its old server is still alive, or
    /// the export's size or block size differs from the device's. A failed recovery leaves the device as it was (not
    /// deleted), for another attempt.</exception>
    public static UblkDevice Recover(BlockExport export, int deviceId, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(export);
        ArgumentOutOfRangeException.ThrowIfNegative(deviceId);
        ILogger logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("Blkmq.Ublk");
        UblkControl control = UblkControl.Open();
        var device = new UblkDevice(control, logger) { DeviceId = (uint)deviceId };
        try
        {
            int result = control.GetDeviceInfo((uint)deviceId, out UblkCtrlDevInfo info);
            if (result < 0)
            {
                throw new UblkException(UblkControl.Describe("GET_DEV_INFO", (uint)deviceId, result), -result);
            }

            if ((info.Flags & UblkConstants.FlagUserRecovery) == 0)
            {
                throw new UblkException($"ublk device {deviceId} was not created recoverable (--ublk-recoverable); it cannot be recovered.");
            }

            if ((long)info.MaxIoBufBytes > int.MaxValue)
            {
                throw new UblkException($"ublk device {deviceId}: max IO size {info.MaxIoBufBytes} is out of range.");
            }

            CheckSameGeometry(control, (uint)deviceId, export.Target.Disk);

            // START_USER_RECOVERY fails with EBUSY until the kernel has noticed the old server's death.
            DateTime deadline = DateTime.UtcNow.AddSeconds(30);
            while ((result = control.StartUserRecovery((uint)deviceId)) == -16 && DateTime.UtcNow < deadline)
            {
                Thread.Sleep(100);
            }

            if (result < 0)
            {
                throw new UblkException(UblkControl.Describe("START_USER_RECOVERY", (uint)deviceId, result), -result);
            }

            device.Flags = info.Flags;
            device.QueueCount = info.NrHwQueues;
            device.StartQueues(export.Target, info.NrHwQueues, info.QueueDepth, (int)info.MaxIoBufBytes);
            result = control.EndUserRecovery((uint)deviceId);
            if (result < 0)
            {
                throw new UblkException(UblkControl.Describe("END_USER_RECOVERY", (uint)deviceId, result), -result);
            }

            // From here on the device is this server's: SIGTERM stops and deletes it as if it had created it.
            device._owned = true;
            device._started = true;
            UblkLog.Recovered(logger, (uint)deviceId, Environment.ProcessId);
            return device;
        }
        catch
        {
            device.Dispose();
            throw;
        }
    }

    /// <summary>Builds SET_PARAMS' parameters from a disk's geometry and limits.</summary>
    /// <param name="disk">The disk.</param>
    /// <param name="readOnly">Whether the device refuses writes.</param>
    /// <param name="maxIoBytes">The device's largest IO.</param>
    /// <returns>Basic parameters, and discard ones when the disk discards or writes zeroes.</returns>
    internal static UblkParams BuildParams(Disk disk, bool readOnly, int maxIoBytes)
    {
        QueueLimits limits = disk.Limits;
        UblkParams p = default;
        p.Length = (uint)sizeof(UblkParams);
        p.Types = UblkConstants.ParamTypeBasic;
        uint attributes = 0;
        if (readOnly)
        {
            attributes |= UblkConstants.AttrReadOnly;
        }

        if (disk.IsRotational)
        {
            attributes |= UblkConstants.AttrRotational;
        }

        if (disk.HasWriteCache)
        {
            attributes |= UblkConstants.AttrVolatileCache;
            if (disk.SupportsFua)
            {
                attributes |= UblkConstants.AttrFua;
            }
        }

        p.Basic.Attributes = attributes;
        p.Basic.LogicalBlockShift = (byte)BitOperations.Log2((uint)limits.LogicalBlockSize);
        p.Basic.PhysicalBlockShift = (byte)BitOperations.Log2((uint)limits.EffectivePhysicalBlockSize);
        p.Basic.IoMinShift = p.Basic.LogicalBlockShift;
        p.Basic.IoOptShift = p.Basic.PhysicalBlockShift;
        p.Basic.MaxSectors = (uint)(maxIoBytes >> 9);
        p.Basic.DevSectors = (ulong)disk.CapacitySectors;
        if (limits.IsZoned)
        {
            p.Types |= UblkConstants.ParamTypeZoned;
            p.Basic.ChunkSectors = (uint)limits.ZoneSectors;
            p.Zoned.MaxOpenZones = (uint)limits.MaxOpenZones;
            p.Zoned.MaxActiveZones = (uint)limits.MaxActiveZones;
            p.Zoned.MaxZoneAppendSectors = (uint)Math.Min(limits.MaxZoneAppendSectors, maxIoBytes >> 9);
        }

        if (disk.SupportsDiscard || disk.SupportsWriteZeroes)
        {
            p.Types |= UblkConstants.ParamTypeDiscard;
            p.Discard.DiscardGranularity = (uint)limits.EffectiveDiscardGranularity;
            p.Discard.MaxDiscardSectors = (uint)Math.Min(limits.MaxDiscardSectors, uint.MaxValue >> 9);
            p.Discard.MaxWriteZeroesSectors = (uint)Math.Min(limits.MaxWriteZeroesSectors, uint.MaxValue >> 9);
            p.Discard.MaxDiscardSegments = 1; // the driver supports single-segment discard only
        }

        return p;
    }

    /// <summary>Stops and deletes the device (STOP_DEV, queues ended, DEL_DEV); IO after this fails.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        if (_started)
        {
            int result = _control.StopDevice(DeviceId);
            if (result < 0)
            {
                UblkLog.StepFailed(_logger, DeviceId, "STOP_DEV", Marshal.GetPInvokeErrorMessage(-result));
            }
        }

        foreach (UblkQueue queue in _queues)
        {
            queue.Stop();
            queue.Dispose();
        }

        foreach ((nint address, nuint size) in _maps)
        {
            _ = UblkNative.Munmap(address, size);
        }

        if (_cdevFd >= 0)
        {
            _ = UblkNative.Close(_cdevFd);
        }

        foreach (nint buffer in _buffers)
        {
            NativeMemory.AlignedFree((void*)buffer);
        }

        // A recovery that failed leaves the device to the next attempt (or `blkmq ublk delete N`).
        if (_owned)
        {
            int result = _control.DeleteDevice(DeviceId);
            if (result < 0)
            {
                UblkLog.StepFailed(_logger, DeviceId, "DEL_DEV", Marshal.GetPInvokeErrorMessage(-result));
            }
            else
            {
                UblkLog.Deleted(_logger, DeviceId);
            }
        }

        _control.Dispose();
    }

    /// <summary>A queue's ring failed: the device cannot serve IO any more.</summary>
    internal void OnQueueFailed() => _failed = true;

    private void Create(ExportTarget target, UblkDeviceOptions options)
    {
        ulong features = 0;
        if (_control.GetFeatures(out ulong supported) == 0)
        {
            features = supported;
        }

        KernelFeatures = features;
        ulong flags = features & UblkConstants.FlagCmdIoctlEncode;
        bool unprivileged = options.Unprivileged ?? !Environment.IsPrivilegedProcess;
        if (unprivileged)
        {
            if (features != 0 && (features & UblkConstants.FlagUnprivilegedDev) == 0)
            {
                throw new UblkException("this kernel's ublk driver has no UNPRIVILEGED_DEV (Linux 6.3+); run as root.");
            }

            if (options.UserCopy == UblkUserCopyMode.On || options.Recoverable)
            {
                throw new UblkException("an unprivileged ublk device (not root) can have neither USER_COPY nor recovery.");
            }

            flags |= UblkConstants.FlagUnprivilegedDev;
        }

        bool kernelHasUserCopy = (features & UblkConstants.FlagUserCopy) != 0;
        if (target.Disk.IsZoned)
        {
            // ublk zoned (Linux 6.6) needs USER_COPY: REPORT_ZONES' answer is written into the request.
            if ((features & UblkConstants.FlagZoned) == 0 || !kernelHasUserCopy)
            {
                throw new NotSupportedException("this kernel's ublk driver has no ZONED with USER_COPY (Linux 6.6+).");
            }

            if (unprivileged || options.UserCopy == UblkUserCopyMode.Off)
            {
                throw new NotSupportedException("a zoned disk needs USER_COPY: not with --ublk-user-copy off, not unprivileged.");
            }

            flags |= UblkConstants.FlagZoned | UblkConstants.FlagUserCopy;
        }

        if (options.UserCopy == UblkUserCopyMode.On && !kernelHasUserCopy)
        {
            throw new UblkException("this kernel's ublk driver has no USER_COPY (Linux 6.5+); use user copy auto or off.");
        }

        if (!unprivileged && (options.UserCopy == UblkUserCopyMode.On || (options.UserCopy == UblkUserCopyMode.Auto && kernelHasUserCopy)))
        {
            flags |= UblkConstants.FlagUserCopy;
        }

        if (options.Recoverable)
        {
            if (features != 0 && (features & UblkConstants.FlagUserRecoveryReissue) == 0)
            {
                throw new UblkException("this kernel's ublk driver has no USER_RECOVERY_REISSUE (Linux 6.1+).");
            }

            flags |= UblkConstants.FlagUserRecovery | UblkConstants.FlagUserRecoveryReissue;
        }

        UblkCtrlDevInfo info = default;
        info.NrHwQueues = (ushort)options.QueueCount;
        info.QueueDepth = (ushort)options.QueueDepth;
        info.MaxIoBufBytes = (uint)options.MaxIoBytes;
        info.DevId = options.DeviceId < 0 ? uint.MaxValue : (uint)options.DeviceId;
        info.UblksrvPid = Environment.ProcessId;
        info.Flags = flags;
        int result = _control.AddDevice(ref info);
        if (result < 0)
        {
            throw new UblkException(UblkControl.Describe("ADD_DEV", info.DevId, result), -result);
        }

        DeviceId = info.DevId;
        Flags = info.Flags;
        QueueCount = info.NrHwQueues; // the kernel's count: at most nr_cpu_ids
        _owned = true;
        if (IsUnprivileged)
        {
            // The kernel checks access to /dev/ublkcN for every command from here on (SET_PARAMS too): wait until
            // udev has given the node to this user.
            _control.UseDevicePath();
            OpenCharDevice(UblkNative.Eacces, 200);
        }
        UblkParams parameters = BuildParams(target.Disk, target.IsReadOnly, options.MaxIoBytes);
        result = _control.SetParams(DeviceId, parameters);
        if (result < 0)
        {
            throw new UblkException(UblkControl.Describe("SET_PARAMS", DeviceId, result), -result);
        }
    }

    /// <summary>Refuses to recover a device with a disk of another size or logical block size than it had.</summary>
    private static void CheckSameGeometry(UblkControl control, uint deviceId, Disk disk)
    {
        int result = control.GetParams(deviceId, out UblkParams parameters);
        if (result < 0)
        {
            throw new UblkException(UblkControl.Describe("GET_PARAMS", deviceId, result), -result);
        }

        int logicalBlockSize = 1 << parameters.Basic.LogicalBlockShift;
        if (parameters.Basic.DevSectors != (ulong)disk.CapacitySectors || logicalBlockSize != disk.Limits.LogicalBlockSize)
        {
            throw new UblkException(string.Create(
                CultureInfo.InvariantCulture,
                $"ublk device {deviceId} has {parameters.Basic.DevSectors} sectors of {logicalBlockSize} bytes; the export has {disk.CapacitySectors} of {disk.Limits.LogicalBlockSize}: not the same disk."));
        }
    }

    /// <summary>
    /// Opens <c>/dev/ublkcN</c>, retrying every 50 ms up to <paramref name="attempts"/> times while it is missing
    /// (devtmpfs adds it with ADD_DEV; a udev may rename or add it late) or, with <paramref name="alsoRetry"/> =
    /// EACCES, not yet given to this user (an unprivileged device, until udev's rule has run).
    /// </summary>
    private void OpenCharDevice(int alsoRetry, int attempts)
    {
        string path = CharDevicePath;
        for (int attempt = 0; ; attempt++)
        {
            _cdevFd = UblkNative.Open(path, UblkNative.OpenReadWrite | UblkNative.OpenCloseOnExec);
            if (_cdevFd >= 0)
            {
                return;
            }

            int errno = Marshal.GetLastPInvokeError();
            if ((errno != UblkNative.Enoent && errno != alsoRetry) || attempt >= attempts)
            {
                string hint = errno == UblkNative.Eacces ? " (an unprivileged device's nodes must be given to its user, as ublksrv's udev rule does)" : string.Empty;
                throw new UblkException($"cannot open {path}: {Marshal.GetPInvokeErrorMessage(errno)}{hint}", errno);
            }

            Thread.Sleep(50);
        }
    }

    private void StartQueues(ExportTarget target, int queueCount, int depth, int maxIoBytes)
    {
        string path = CharDevicePath;
        if (_cdevFd < 0)
        {
            OpenCharDevice(UblkNative.Enoent, 100);
        }

        int pageSize = UblkNative.GetPageSize();
        for (int q = 0; q < queueCount; q++)
        {
            nuint mapSize = (nuint)UblkConstants.DescriptorMapSize(depth, pageSize);
            nint map = UblkNative.Mmap(0, mapSize, UblkNative.ProtRead, UblkNative.MapShared | UblkNative.MapPopulate, _cdevFd, UblkConstants.DescriptorOffset(q, pageSize));
            if (map == -1)
            {
                int errno = Marshal.GetLastPInvokeError();
                throw new UblkException($"cannot map the IO descriptors of {path} queue {q}: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
            }

            _maps.Add((map, mapSize));
            nint buffers = (nint)NativeMemory.AlignedAlloc((nuint)depth * (nuint)maxIoBytes, 4096);
            _buffers.Add(buffers);
            // The CPUs the kernel maps to queue q (GET_QUEUE_AFFINITY, as ublksrv): its thread runs there. None on failure.
            var affinity = new ulong[UblkQueue.AffinityWords];
            if (_control.GetQueueAffinity(DeviceId, q, affinity) != 0)
            {
                affinity = null;
            }

            var queue = new UblkQueue(this, q, depth, maxIoBytes, _cdevFd, (UblkIoDesc*)map, (byte*)buffers, IsUserCopy, (Flags & UblkConstants.FlagZoned) != 0, target, affinity, _logger);
            _queues.Add(queue);
            int error = queue.Start();
            if (error != 0)
            {
                throw new UblkException($"{path} queue {q}: cannot fetch its requests: {Marshal.GetPInvokeErrorMessage(error)}", error);
            }
        }
    }
}
