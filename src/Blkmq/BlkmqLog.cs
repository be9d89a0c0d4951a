using Microsoft.Extensions.Logging;

namespace Blkmq;

/// <summary>The block layer's log messages. Never logged per IO on the success path: per-IO facts are counters.</summary>
internal static partial class BlkmqLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Error, Message = "Driver callback {Callback} threw on disk {Disk}, hardware queue {HwQueue}; the request ends with an IO error")]
    public static partial void DriverCallbackThrew(ILogger logger, Exception exception, string callback, string disk, int hwQueue);

    [LoggerMessage(EventId = 2, Level = LogLevel.Error, Message = "Driver returned unknown status {Status} from QueueRq on disk {Disk}; the request ends with an IO error")]
    public static partial void UnknownStatus(ILogger logger, int status, string disk);

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "Request timed out on disk {Disk}, hardware queue {HwQueue}, tag {Tag}: {Op} at sector {Sector}")]
    public static partial void RequestTimedOut(ILogger logger, string disk, int hwQueue, int tag, RequestOp op, long sector);

    [LoggerMessage(EventId = 4, Level = LogLevel.Error, Message = "Driver's Complete callback on disk {Disk} did not end the request; it ends with an IO error")]
    public static partial void CompleteDidNotEnd(ILogger logger, string disk);

    [LoggerMessage(EventId = 5, Level = LogLevel.Information, Message = "Disk {Disk} added: {Capacity} bytes, logical block {BlockSize}, {HwQueues} hardware queues")]
    public static partial void DiskAdded(ILogger logger, string disk, long capacity, int blockSize, int hwQueues);

    [LoggerMessage(EventId = 8, Level = LogLevel.Information, Message = "Disk {Disk} added over {Lower}: {Capacity} bytes at offset {Offset}, logical block {BlockSize}, bio-based (the queues below)")]
    public static partial void StackedDiskAdded(ILogger logger, string disk, string lower, long capacity, long offset, int blockSize);

    [LoggerMessage(EventId = 6, Level = LogLevel.Information, Message = "Disk {Disk} removed; {Failed} in-flight requests were failed after the grace period")]
    public static partial void DiskRemoved(ILogger logger, string disk, int failed);

    [LoggerMessage(EventId = 7, Level = LogLevel.Error, Message = "Driver returned {Status} from QueueRq after ending the request on disk {Disk}; the end stands")]
    public static partial void BusyAfterEnd(ILogger logger, BlockStatus status, string disk);
}
