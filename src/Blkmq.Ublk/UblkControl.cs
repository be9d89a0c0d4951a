using System.Runtime.InteropServices;
using Blkmq.IoUring;
using Blkmq.Ublk.Interop;

namespace Blkmq.Ublk;

/// <summary>
/// <c>/dev/ublk-control</c>: the ublk driver's control commands (ADD_DEV, SET_PARAMS, START_DEV, STOP_DEV, DEL_DEV,
/// GET_DEV_INFO, GET_FEATURES, user recovery), each an <c>IORING_OP_URING_CMD</c> on a ring of 128-byte SQEs whose
/// command area holds a <see cref="UblkCtrlCmd"/>. Commands are synchronous and serialized by a lock.
/// </summary>
internal sealed unsafe class UblkControl : IDisposable
{
    /// <summary>The control device's path.</summary>
    public const string ControlPath = "/dev/ublk-control";

    private readonly Lock _lock = new();
    private readonly int _fd;
    private readonly IoUringCommandRing _ring;
    private bool _withDevicePath;

    private UblkControl(int fd, IoUringCommandRing ring)
    {
        _fd = fd;
        _ring = ring;
    }

    /// <summary>Opens the control device.</summary>
    /// <returns>The control device.</returns>
    /// <exception cref="UblkException">It cannot be opened (no ublk_drv: <c>modprobe ublk_drv</c>; not root), or io_uring is refused.</exception>
    public static UblkControl Open()
    {
        int fd = UblkNative.Open(ControlPath, UblkNative.OpenReadWrite | UblkNative.OpenCloseOnExec);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            string hint = errno == UblkNative.Enoent ? " (is the ublk_drv module loaded? modprobe ublk_drv)" : string.Empty;
            throw new UblkException($"cannot open {ControlPath}: {Marshal.GetPInvokeErrorMessage(errno)}{hint}", errno);
        }

        int error = IoUringCommandRing.TryCreate(4, out IoUringCommandRing? ring);
        if (error != 0)
        {
            _ = UblkNative.Close(fd);
            throw new UblkException($"cannot set up an io_uring with 128-byte SQEs: {Marshal.GetPInvokeErrorMessage(error)}", error);
        }

        return new UblkControl(fd, ring!);
    }

    /// <summary>
    /// From now on every command about a device names its char device <c>/dev/ublkcN</c> in front of its payload, as
    /// the kernel wants for a device created with <c>UBLK_F_UNPRIVILEGED_DEV</c> (it checks the caller's access to
    /// that file instead of CAP_SYS_ADMIN).
    /// </summary>
    public void UseDevicePath() => _withDevicePath = true;

    /// <summary>GET_FEATURES (Linux 6.5): the <c>UBLK_F_*</c> flags the driver knows.</summary>
    /// <param name="features">The flags; 0 on failure.</param>
    /// <returns>0, or -errno (-EOPNOTSUPP or -EINVAL before 6.5).</returns>
    public int GetFeatures(out ulong features)
    {
        ulong value = 0;
        int result = Execute(UblkConstants.CmdGetFeatures, uint.MaxValue, (ulong)&value, sizeof(ulong), 0);
        features = result < 0 ? 0 : value;
        return result < 0 ? result : 0;
    }

    /// <summary>ADD_DEV: creates <c>/dev/ublkcN</c>; the kernel fills in the device id it chose and its flags.</summary>
    /// <param name="info">In: queues, depth, max IO bytes, flags, wanted id (-1: any). Out: the device as created.</param>
    /// <returns>0, or -errno (-EEXIST when the id is taken).</returns>
    public int AddDevice(ref UblkCtrlDevInfo info)
    {
        fixed (UblkCtrlDevInfo* p = &info)
        {
            return Execute(UblkConstants.CmdAddDev, info.DevId, (ulong)p, (ushort)sizeof(UblkCtrlDevInfo), 0);
        }
    }

    /// <summary>SET_PARAMS: block sizes, capacity, limits; before START_DEV.</summary>
    /// <param name="devId">The device.</param>
    /// <param name="parameters">The parameters; <see cref="UblkParams.Types"/> says which parts apply.</param>
    /// <returns>0, or -errno.</returns>
    public int SetParams(uint devId, in UblkParams parameters)
    {
        fixed (UblkParams* p = &parameters)
        {
            return Execute(UblkConstants.CmdSetParams, devId, (ulong)p, (ushort)sizeof(UblkParams), 0);
        }
    }

    /// <summary>START_DEV: adds <c>/dev/ublkbN</c>. Waits in the kernel until every queue has fetched every tag.</summary>
    /// <param name="devId">The device.</param>
    /// <returns>0, or -errno.</returns>
    public int StartDevice(uint devId) => Execute(UblkConstants.CmdStartDev, devId, 0, 0, (ulong)Environment.ProcessId);

    /// <summary>STOP_DEV: removes <c>/dev/ublkbN</c> (its in-flight IO still completes), then aborts the queues' fetches.</summary>
    /// <param name="devId">The device.</param>
    /// <returns>0, or -errno.</returns>
    public int StopDevice(uint devId) => Execute(UblkConstants.CmdStopDev, devId, 0, 0, 0);

    /// <summary>DEL_DEV: removes <c>/dev/ublkcN</c>; waits until no process holds it open or mapped.</summary>
    /// <param name="devId">The device.</param>
    /// <returns>0, or -errno.</returns>
    public int DeleteDevice(uint devId) => Execute(UblkConstants.CmdDelDev, devId, 0, 0, 0);

    /// <summary>START_USER_RECOVERY: a device whose server died (with UBLK_F_USER_RECOVERY) accepts a new server.</summary>
    /// <param name="devId">The device.</param>
    /// <returns>0, or -errno (-EBUSY while the old server's queues are not yet torn down).</returns>
    public int StartUserRecovery(uint devId) => Execute(UblkConstants.CmdStartUserRecovery, devId, 0, 0, 0);

    /// <summary>END_USER_RECOVERY: the new server's queues have fetched; reissued IO flows to it.</summary>
    /// <param name="devId">The device.</param>
    /// <returns>0, or -errno.</returns>
    public int EndUserRecovery(uint devId) => Execute(UblkConstants.CmdEndUserRecovery, devId, 0, 0, (ulong)Environment.ProcessId);

    /// <summary>GET_DEV_INFO: the device's queues, depth, state, server pid and flags.</summary>
    /// <param name="devId">The device.</param>
    /// <param name="info">The information.</param>
    /// <returns>0, or -errno (-ENODEV: no such device).</returns>
    public int GetDeviceInfo(uint devId, out UblkCtrlDevInfo info)
    {
        UblkCtrlDevInfo value = default;
        int result = Execute(UblkConstants.CmdGetDevInfo, devId, (ulong)&value, (ushort)sizeof(UblkCtrlDevInfo), 0);
        info = value;
        return result < 0 ? result : 0;
    }

    /// <summary>
    /// GET_QUEUE_AFFINITY: the CPUs whose IO the kernel queues to <paramref name="queueId"/> (the blk-mq map of the
    /// device's tag set), as a <c>cpu_set_t</c> bit mask.
    /// </summary>
    /// <param name="devId">The device.</param>
    /// <param name="queueId">The hardware queue.</param>
    /// <param name="mask">The mask: bit c of word c / 64 is CPU c; at least as many bits as the kernel has CPU ids.</param>
    /// <returns>0, or -errno (-EINVAL: the mask is too short for this kernel's CPU ids).</returns>
    public int GetQueueAffinity(uint devId, int queueId, Span<ulong> mask)
    {
        fixed (ulong* buffer = mask)
        {
            int result = Execute(UblkConstants.CmdGetQueueAffinity, devId, (ulong)buffer, (ushort)(mask.Length * sizeof(ulong)), (ulong)queueId);
            return result < 0 ? result : 0;
        }
    }

    /// <summary>GET_PARAMS: the device's parameters (with the char and block device numbers).</summary>
    /// <param name="devId">The device.</param>
    /// <param name="parameters">The parameters.</param>
    /// <returns>0, or -errno.</returns>
    public int GetParams(uint devId, out UblkParams parameters)
    {
        UblkParams value = default;
        value.Length = (uint)sizeof(UblkParams);
        int result = Execute(UblkConstants.CmdGetParams, devId, (ulong)&value, (ushort)sizeof(UblkParams), 0);
        parameters = value;
        return result < 0 ? result : 0;
    }

    /// <summary>Closes the ring and the control device.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            _ring.Dispose();
            _ = UblkNative.Close(_fd);
        }
    }

    /// <summary>Formats a failed command for a message: "ADD_DEV of device 3: Device or resource busy".</summary>
    internal static string Describe(string command, uint devId, int result) =>
        $"{command} of ublk device {(devId == uint.MaxValue ? "(any)" : devId.ToString(System.Globalization.CultureInfo.InvariantCulture))}: {Marshal.GetPInvokeErrorMessage(-result)}";

    private int Execute(uint op, uint devId, ulong address, ushort length, ulong data0)
    {
        UblkCtrlCmd cmd = default;
        cmd.DevId = devId;
        cmd.QueueId = ushort.MaxValue;
        cmd.Length = length;
        cmd.Address = address;
        cmd.Data0 = data0;
        if (_withDevicePath && devId != uint.MaxValue)
        {
            return ExecuteWithDevicePath(op, cmd);
        }

        lock (_lock)
        {
            return _ring.Execute(_fd, op, new ReadOnlySpan<byte>(&cmd, sizeof(UblkCtrlCmd)));
        }
    }

    /// <summary>
    /// An unprivileged device's command: the buffer is the path <c>/dev/ublkcN</c> (<c>dev_path_len</c> bytes, no NUL)
    /// followed by the payload; the kernel checks the caller's access to that path, then skips it and works on the
    /// payload, which is copied back afterwards (GET_DEV_INFO, GET_PARAMS fill it in).
    /// </summary>
    private int ExecuteWithDevicePath(uint op, UblkCtrlCmd cmd)
    {
        byte[] path = DevicePath(cmd.DevId);
        int total = path.Length + cmd.Length;
        byte* buffer = stackalloc byte[total];
        var payload = new Span<byte>((void*)cmd.Address, cmd.Address == 0 ? 0 : cmd.Length);
        ComposeWithDevicePath(path, payload, new Span<byte>(buffer, total));
        cmd.Address = (ulong)buffer;
        cmd.Length = (ushort)total;
        cmd.DevPathLength = (ushort)path.Length;
        int result;
        lock (_lock)
        {
            result = _ring.Execute(_fd, op, new ReadOnlySpan<byte>(&cmd, sizeof(UblkCtrlCmd)));
        }

        new ReadOnlySpan<byte>(buffer + path.Length, payload.Length).CopyTo(payload);
        return result;
    }

    /// <summary>Gets <c>/dev/ublkcN</c> in UTF-8, without a NUL (the kernel adds one; <c>dev_path_len</c> counts none).</summary>
    internal static byte[] DevicePath(uint devId) =>
        System.Text.Encoding.UTF8.GetBytes("/dev/ublkc" + devId.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>Lays out an unprivileged device's command buffer: <paramref name="path"/>, then <paramref name="payload"/>.</summary>
    /// <param name="path">The char device's path (<see cref="DevicePath"/>).</param>
    /// <param name="payload">The command's own buffer (device info, parameters), possibly empty.</param>
    /// <param name="buffer">At least path + payload bytes.</param>
    internal static void ComposeWithDevicePath(ReadOnlySpan<byte> path, ReadOnlySpan<byte> payload, Span<byte> buffer)
    {
        path.CopyTo(buffer);
        payload.CopyTo(buffer[path.Length..]);
    }
}
