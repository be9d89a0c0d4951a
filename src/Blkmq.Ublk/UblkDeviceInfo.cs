using System.Globalization;
using Blkmq.Ublk.Interop;

namespace Blkmq.Ublk;

/// <summary>What GET_DEV_INFO reports about one ublk device, for <c>blkmq ublk list</c>.</summary>
public sealed record UblkDeviceInfo
{
    /// <summary>Gets the device number N.</summary>
    public required uint DeviceId { get; init; }

    /// <summary>Gets the state: <c>dead</c>, <c>live</c> or <c>quiesced</c> (waiting for a recovering server).</summary>
    public required string State { get; init; }

    /// <summary>Gets the number of queues.</summary>
    public required int QueueCount { get; init; }

    /// <summary>Gets the tags per queue.</summary>
    public required int QueueDepth { get; init; }

    /// <summary>Gets the largest IO in bytes.</summary>
    public required long MaxIoBytes { get; init; }

    /// <summary>Gets the pid of the server that started (or recovered) the device.</summary>
    public required int ServerPid { get; init; }

    /// <summary>Gets the <c>UBLK_F_*</c> flags.</summary>
    public required ulong Flags { get; init; }

    /// <summary>Gets the flags' names.</summary>
    public string FlagNames => UblkConstants.DescribeFlags(Flags);

    /// <summary>Gets the block device's path, <c>/dev/ublkbN</c> (present only while the device is started).</summary>
    public string BlockDevicePath => "/dev/ublkb" + DeviceId.ToString(CultureInfo.InvariantCulture);

    /// <summary>Lists the devices that have a <c>/dev/ublkcN</c>, in number order.</summary>
    /// <returns>The devices.</returns>
    /// <exception cref="UblkException">The control device cannot be opened.</exception>
    public static IReadOnlyList<UblkDeviceInfo> ListAll()
    {
        var ids = new List<uint>();
        foreach (string path in Directory.EnumerateFiles("/dev", "ublkc*"))
        {
            if (uint.TryParse(Path.GetFileName(path).AsSpan("ublkc".Length), NumberStyles.None, CultureInfo.InvariantCulture, out uint id))
            {
                ids.Add(id);
            }
        }

        ids.Sort();
        var devices = new List<UblkDeviceInfo>();
        using UblkControl control = OpenControl();
        foreach (uint id in ids)
        {
            if (control.GetDeviceInfo(id, out UblkCtrlDevInfo info) == 0)
            {
                devices.Add(new UblkDeviceInfo
                {
                    DeviceId = info.DevId,
                    State = info.State switch
                    {
                        UblkConstants.StateDead => "dead",
                        UblkConstants.StateLive => "live",
                        UblkConstants.StateQuiesced => "quiesced",
                        _ => "state" + info.State.ToString(CultureInfo.InvariantCulture),
                    },
                    QueueCount = info.NrHwQueues,
                    QueueDepth = info.QueueDepth,
                    MaxIoBytes = info.MaxIoBufBytes,
                    ServerPid = info.UblksrvPid,
                    Flags = info.Flags,
                });
            }
        }

        return devices;
    }

    /// <summary>Stops (if started) and deletes device <paramref name="deviceId"/>: what a dead server left behind.</summary>
    /// <param name="deviceId">The device number.</param>
    /// <exception cref="UblkException">The device does not exist, or DEL_DEV failed.</exception>
    public static void Delete(int deviceId)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(deviceId);
        using UblkControl control = OpenControl();
        uint id = (uint)deviceId;
        int result = control.GetDeviceInfo(id, out _);
        if (result < 0)
        {
            throw new UblkException(UblkControl.Describe("GET_DEV_INFO", id, result), -result);
        }

        // STOP_DEV of a device that is not live is a no-op; its error is not interesting here.
        _ = control.StopDevice(id);
        result = control.DeleteDevice(id);
        if (result < 0)
        {
            throw new UblkException(UblkControl.Describe("DEL_DEV", id, result), -result);
        }
    }

    /// <summary>
    /// Opens the control device; for a user other than root its commands name <c>/dev/ublkcN</c>, since the only
    /// devices such a user may touch are unprivileged ones (the kernel refuses it the others).
    /// </summary>
    private static UblkControl OpenControl()
    {
        UblkControl control = UblkControl.Open();
        if (!Environment.IsPrivilegedProcess)
        {
            control.UseDevicePath();
        }

        return control;
    }
}
