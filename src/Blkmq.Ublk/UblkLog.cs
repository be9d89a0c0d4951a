using Microsoft.Extensions.Logging;

namespace Blkmq.Ublk;

/// <summary>The ublk front end's log messages: device and queue events only, never one per IO.</summary>
internal static partial class UblkLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "ublk device {DevId} for export '{Export}': {Path}, {Queues} queue(s) of depth {Depth}, {MaxIoBytes} bytes per IO, flags {Flags}")]
    public static partial void Started(ILogger logger, uint devId, string export, string path, int queues, int depth, int maxIoBytes, string flags);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "ublk device {DevId} stopped and deleted")]
    public static partial void Deleted(ILogger logger, uint devId);

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "ublk device {DevId} queue {Queue}: command for tag {Tag} failed: {Error}")]
    public static partial void CommandFailed(ILogger logger, uint devId, int queue, int tag, int error);

    [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "ublk device {DevId}: {Step} failed: {Message}")]
    public static partial void StepFailed(ILogger logger, uint devId, string step, string message);

    [LoggerMessage(EventId = 5, Level = LogLevel.Information, Message = "ublk device {DevId} queue {Queue}: the kernel aborted every tag (device stopped)")]
    public static partial void QueueAborted(ILogger logger, uint devId, int queue);

    [LoggerMessage(EventId = 6, Level = LogLevel.Error, Message = "ublk device {DevId} queue {Queue}: the ring failed: {Error}")]
    public static partial void RingFailed(ILogger logger, uint devId, int queue, int error);

    [LoggerMessage(EventId = 7, Level = LogLevel.Information, Message = "ublk device {DevId}: recovered by this server (pid {Pid}); in-flight IO is reissued")]
    public static partial void Recovered(ILogger logger, uint devId, int pid);
}
