using Microsoft.Extensions.Logging;

namespace Blkmq.Drivers.Rbd;

/// <summary>The RBD driver's log messages: what was opened, locks, timeouts; never one per IO.</summary>
internal static partial class RbdLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "{Disk}: rbd {Spec}, {Size} bytes, {ObjectSize}-byte objects, features 0x{Features:x}{ReadOnly}{Lock}{Created}")]
    public static partial void Opened(ILogger logger, string disk, string spec, long size, long objectSize, ulong features, string readOnly, string @lock, string created);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "{Disk}: request {Token} timed out in librbd; it ends when librbd completes it (its buffers stay pinned until then)")]
    public static partial void TimedOut(ILogger logger, string disk, ulong token);

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "{Disk}: librbd returned {Result} bytes for a {Length}-byte read; the request ends with an IO error")]
    public static partial void ShortRead(ILogger logger, string disk, long result, int length);
}
