using Blkmq.Frontend;
using Blkmq.Nbd;
using Blkmq.Ublk;
using Microsoft.Extensions.Logging;

namespace Blkmq.Cli;

/// <summary>
/// <c>blkmq serve --ublk</c>: every export also a <c>/dev/ublkbN</c> (<see cref="UblkDevice"/>), numbered from
/// <see cref="FirstId"/> on (or by the kernel), or with <see cref="RecoverId"/> the one export taking over a
/// recoverable device whose server died.
/// </summary>
internal sealed record UblkServeOptions
{
    /// <summary>Gets the number of the first export's device; -1 lets the kernel pick each.</summary>
    public int FirstId { get; init; } = -1;

    /// <summary>Gets whether the devices wait for a new server when this one dies (USER_RECOVERY_REISSUE).</summary>
    public bool Recoverable { get; init; }

    /// <summary>Gets how request data moves (USER_COPY or per-tag buffers) in the devices created.</summary>
    public UblkUserCopyMode UserCopy { get; init; }

    /// <summary>Gets the queues per device; 0: as many as the disk's submit queues.</summary>
    public int QueueCount { get; init; }

    /// <summary>Gets the tags per queue; 0: the disk's queue depth.</summary>
    public int QueueDepth { get; init; }

    /// <summary>Gets the device to recover, or <see langword="null"/> to create new ones.</summary>
    public int? RecoverId { get; init; }

    /// <summary>Gets where device events are logged.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>Starts a device per export; on failure stops those already started and rethrows.</summary>
    /// <param name="exports">The exports, in command-line order.</param>
    /// <returns>The devices, in the same order.</returns>
    /// <exception cref="UblkException">A device could not be created.</exception>
    public List<(BlockExport Export, UblkDevice Device)> StartAll(IReadOnlyList<NbdExport> exports)
    {
        var devices = new List<(BlockExport, UblkDevice)>();
        try
        {
            for (int i = 0; i < exports.Count; i++)
            {
                var export = new BlockExport(exports[i].Name, exports[i].Disk, exports[i].ReadOnly);
                UblkDevice device = RecoverId is int id
                    ? UblkDevice.Recover(export, id, LoggerFactory)
                    : UblkDevice.Start(export, new UblkDeviceOptions { DeviceId = FirstId < 0 ? -1 : FirstId + i, Recoverable = Recoverable, UserCopy = UserCopy, QueueCount = QueueCount, QueueDepth = QueueDepth }, LoggerFactory);
                devices.Add((export, device));
            }

            return devices;
        }
        catch
        {
            foreach ((BlockExport _, UblkDevice device) in devices)
            {
                device.Dispose();
            }

            throw;
        }
    }
}
