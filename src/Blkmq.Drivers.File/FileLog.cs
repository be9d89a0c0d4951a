using Microsoft.Extensions.Logging;

namespace Blkmq.Drivers.File;

/// <summary>The file driver's log messages: what was opened and which engine runs, never one per IO.</summary>
internal static partial class FileLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "{Disk}: {Path} ({Kind}, {Size} bytes, {BlockSize}-byte blocks{ReadOnly}), engine {Engine}, {Direct}")]
    public static partial void Opened(ILogger logger, string disk, string path, string kind, long size, int blockSize, string readOnly, string engine, string direct);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning, Message = "{Disk}: io_uring is not available (io_uring_setup: errno {Errno}); engine threads runs instead")]
    public static partial void IoUringFallback(ILogger logger, string disk, int errno);

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "{Disk}: {Path} is {Size} bytes, not a multiple of {BlockSize}; the last {Tail} bytes are not served")]
    public static partial void TailIgnored(ILogger logger, string disk, string path, long size, int blockSize, long tail);

    [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "{Disk}: {Path} is not writable (errno {Errno}); serving it read-only")]
    public static partial void ReadOnlyFallback(ILogger logger, string disk, string path, int errno);

    [LoggerMessage(EventId = 5, Level = LogLevel.Information, Message = "{Disk}: {Path} does not support O_DIRECT (errno {Errno}); buffered IO")]
    public static partial void DirectUnsupported(ILogger logger, string disk, string path, int errno);

    [LoggerMessage(EventId = 6, Level = LogLevel.Error, Message = "{Disk}: file IO worker caught an unexpected exception; the request ends with an IO error")]
    public static partial void WorkerThrew(ILogger logger, Exception exception, string disk);

    [LoggerMessage(EventId = 7, Level = LogLevel.Warning, Message = "{Disk}: request {Token} timed out; io_uring cancel submitted, the request ends when the kernel lets go of its buffers")]
    public static partial void CancelSubmitted(ILogger logger, string disk, ulong token);

    [LoggerMessage(EventId = 8, Level = LogLevel.Warning, Message = "{Disk}: request {Token} timed out; a worker is still in its system call, the request ends when the call returns")]
    public static partial void WorkerTimedOut(ILogger logger, string disk, ulong token);

    [LoggerMessage(EventId = 9, Level = LogLevel.Debug, Message = "{Disk}: a continuation ran inline on the ring thread of queue {Queue} for a whole tick; a new ring thread serves the queue, and completions go to the runner for a while")]
    public static partial void RingTakenOver(ILogger logger, string disk, int queue);

    [LoggerMessage(EventId = 10, Level = LogLevel.Warning, Message = "{Disk}: {Path} starts with a {Format} header; Blkmq serves the bytes as they are (raw), so a client sees the {Format} container, not the disk inside it (convert it first: qemu-img convert -O raw {Path} disk.img)")]
    public static partial void NotRaw(ILogger logger, string disk, string path, string format);
}
