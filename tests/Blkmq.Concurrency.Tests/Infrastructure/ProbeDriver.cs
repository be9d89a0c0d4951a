namespace Blkmq.Concurrency.Tests.Infrastructure;

/// <summary>
/// A driver whose every callback is counted and whose behaviour the test chooses (see <see cref="DriverProbe"/>):
/// it can keep request handles for other threads to end, complete through the completion context, refuse
/// requests, or answer timeouts, so ownership races can be driven from outside.
/// </summary>
/// <remarks>
/// Every optional member is implemented, so the block layer calls all of them. The disk data is the probe itself:
/// every callback reaches it without the driver holding state.
/// </remarks>
public readonly struct ProbeDriver : IBlockDriver<ProbeRequest, ProbeHwQueue, DriverProbe>
{
    /// <summary>Gets true: the probe drives races between dispatchers of one queue, so it must allow them (rule 9).</summary>
    public static bool ConcurrentQueueRq => true;

    /// <inheritdoc/>
    public BlockStatus QueueRq(ref ProbeHwQueue hwQueue, DriverProbe disk, Request<ProbeRequest> request, bool isLast)
    {
        using CallbackScope scope = disk.Enter(CallbackKind.QueueRq);
        return disk.OnQueueRq(hwQueue, request, isLast);
    }

    /// <inheritdoc/>
    public void CommitRqs(ref ProbeHwQueue hwQueue, DriverProbe disk)
    {
        using CallbackScope scope = disk.Enter(CallbackKind.CommitRqs);
    }

    /// <inheritdoc/>
    public void Complete(DriverProbe disk, Request<ProbeRequest> request)
    {
        using CallbackScope scope = disk.Enter(CallbackKind.Complete);
        disk.OnComplete(request);
    }

    /// <inheritdoc/>
    public ProbeHwQueue InitHctx(DriverProbe disk, int hwQueueIndex)
    {
        using CallbackScope scope = disk.Enter(CallbackKind.InitHctx);
        return new ProbeHwQueue(hwQueueIndex, hwQueueIndex >= disk.HardwareQueueCount);
    }

    /// <inheritdoc/>
    public void ExitHctx(ref ProbeHwQueue hwQueue, DriverProbe disk)
    {
        using CallbackScope scope = disk.Enter(CallbackKind.ExitHctx);
        hwQueue.Exited = true;
    }

    /// <inheritdoc/>
    public ProbeRequest InitRequest(int hwQueueIndex, int tag) => new() { Slot = (hwQueueIndex << 16) | tag };

    /// <inheritdoc/>
    public int Poll(ref ProbeHwQueue hwQueue, DriverProbe disk)
    {
        using CallbackScope scope = disk.Enter(CallbackKind.Poll);
        if (hwQueue.Exited)
        {
            disk.Violation($"Poll called on hardware queue {hwQueue.Index} after its ExitHctx");
        }

        int completed = 0;
        while (hwQueue.Polled.TryDequeue(out Request<ProbeRequest> request))
        {
            if (request.TryEnd(BlockStatus.Ok))
            {
                completed++;
            }
        }

        return completed;
    }

    /// <inheritdoc/>
    public TimeoutAction Timeout(DriverProbe disk, Request<ProbeRequest> request)
    {
        using CallbackScope scope = disk.Enter(CallbackKind.Timeout);
        return disk.OnTimeout(request);
    }
}
