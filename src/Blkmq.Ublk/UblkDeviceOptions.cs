namespace Blkmq.Ublk;

/// <summary>How <see cref="UblkDevice.Start"/> creates a ublk device.</summary>
public sealed record UblkDeviceOptions
{
    /// <summary>Gets the device number N of <c>/dev/ublkbN</c>; -1 lets the kernel pick the lowest free one.</summary>
    public int DeviceId { get; init; } = -1;

    /// <summary>
    /// Gets the number of hardware queues, each served by its own thread and ring (1 to 4096); 0 (the default): as
    /// many as the disk's tag set has submit queues, so that ublk queue q feeds Blkmq hardware queue q.
    /// </summary>
    public int QueueCount { get; init; }

    /// <summary>
    /// Gets the tags per queue (1 to 4096): the kernel queues at most this many requests per queue; 0 (the default):
    /// the disk's tag set's queue depth, so that a ublk request never waits for a Blkmq tag while it has the queue
    /// to itself.
    /// </summary>
    public int QueueDepth { get; init; }

    /// <summary>Gets the largest IO in bytes (a multiple of 4096, at most 1 MiB): each tag has a buffer of this size.</summary>
    public int MaxIoBytes { get; init; } = 512 * 1024;

    /// <summary>
    /// Gets whether the device survives its server's death (<c>UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_REISSUE</c>):
    /// IO then waits for a new server (<see cref="UblkDevice.Recover"/>) instead of failing, and is reissued to it.
    /// </summary>
    public bool Recoverable { get; init; }

    /// <summary>
    /// Gets how request data moves: <see cref="UblkUserCopyMode.Auto"/> (the default) uses USER_COPY when the kernel
    /// offers it; either way each tag keeps one buffer of <see cref="MaxIoBytes"/>, allocated at start.
    /// </summary>
    public UblkUserCopyMode UserCopy { get; init; }

    /// <summary>
    /// Gets whether the device is created unprivileged (<c>UBLK_F_UNPRIVILEGED_DEV</c>, Linux 6.3+): owned by this
    /// user, every control command naming <c>/dev/ublkcN</c>, whose access the kernel checks instead of
    /// CAP_SYS_ADMIN. <see langword="null"/> (the default): unprivileged when this process is not root. Such a device
    /// can have neither USER_COPY nor recovery (the kernel refuses both), and needs <c>/dev/ublk-control</c> open to
    /// the user and its nodes <c>/dev/ublk[bc]N</c> given to the user, as udev rules do (ublksrv's
    /// <c>ublk_dev.rules</c>); <see cref="UblkDevice.Start"/> waits up to 10 s for <c>/dev/ublkcN</c> to become usable.
    /// </summary>
    public bool? Unprivileged { get; init; }

    /// <summary>Fills the queue count and depth left at 0 from the disk's tag set.</summary>
    /// <param name="disk">The disk served.</param>
    /// <returns>Options with both set.</returns>
    public UblkDeviceOptions ResolveFor(Disk disk)
    {
        ArgumentNullException.ThrowIfNull(disk);
        TagSetCore tags = disk.TagSet;
        return this with
        {
            QueueCount = QueueCount > 0 ? QueueCount : Math.Clamp(tags.HardwareQueueCount, 1, UblkConstants.MaxQueues),
            QueueDepth = QueueDepth > 0 ? QueueDepth : Math.Clamp(tags.QueueDepth, 1, UblkConstants.MaxQueueDepth),
        };
    }

    /// <summary>Checks the values.</summary>
    /// <exception cref="ArgumentException">A value is out of range; the message names the property.</exception>
    public void Validate()
    {
        Check(DeviceId >= -1 && DeviceId < (1 << 20), nameof(DeviceId), "The device number must be -1 (any) or 0 to 1048575.");
        Check(QueueCount >= 0 && QueueCount <= UblkConstants.MaxQueues, nameof(QueueCount), "The queue count must be 1 to 4096 (0: the disk's).");
        Check(QueueDepth >= 0 && QueueDepth <= UblkConstants.MaxQueueDepth, nameof(QueueDepth), "The queue depth must be 1 to 4096 (0: the disk's).");
        Check(Enum.IsDefined(UserCopy), nameof(UserCopy), "The user copy mode must be Auto, On or Off.");
        Check(MaxIoBytes >= 4096 && MaxIoBytes <= (1 << 20) && (MaxIoBytes & 4095) == 0, nameof(MaxIoBytes), "The max IO size must be a multiple of 4096 from 4096 to 1 MiB.");
    }

#pragma warning disable MA0015 // The parameter named is the property of these options that is wrong.
    private static void Check(bool condition, string property, string message)
    {
        if (!condition)
        {
            throw new ArgumentException(message, property);
        }
    }
#pragma warning restore MA0015
}
