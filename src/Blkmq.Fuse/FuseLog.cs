using Microsoft.Extensions.Logging;

namespace Blkmq.Fuse;

/// <summary>The FUSE export's log messages: mount, unmount and protocol events, never one per IO.</summary>
internal static partial class FuseLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "FUSE file {Path} mounted (export {Export}, disk {Disk})")]
    public static partial void Mounted(ILogger logger, string path, string export, string disk);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "FUSE protocol {Major}.{Minor} negotiated with the kernel (it offered {KernelMajor}.{KernelMinor}); max write {MaxWrite} bytes")]
    public static partial void Initialized(ILogger logger, uint major, uint minor, uint kernelMajor, uint kernelMinor, int maxWrite);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "FUSE export {Path} unmounted")]
    public static partial void Unmounted(ILogger logger, string path);

    [LoggerMessage(EventId = 4, Level = LogLevel.Warning, Message = "FUSE export {Path} still open {Timeout} after its unmount (a loop device attached?); connection aborted")]
    public static partial void Aborted(ILogger logger, string path, TimeSpan timeout);

    [LoggerMessage(EventId = 17, Level = LogLevel.Warning, Message = "FUSE export {Path} still open, and asked to stop again: not waiting for it to be closed; connection aborted")]
    public static partial void AbortedOnRequest(ILogger logger, string path);

    [LoggerMessage(EventId = 16, Level = LogLevel.Warning, Message = "FUSE export {Path} is in use (a file is open: a loop device attached?); serving it until it is closed, at most {Timeout}, then unmounting by force (blkmq serve: SIGINT / SIGTERM again to do so now)")]
    public static partial void Busy(ILogger logger, string path, TimeSpan timeout);

    [LoggerMessage(EventId = 5, Level = LogLevel.Error, Message = "FUSE device read failed (errno {Errno}); worker stopped")]
    public static partial void ReadFailed(ILogger logger, int errno);

    [LoggerMessage(EventId = 6, Level = LogLevel.Warning, Message = "FUSE reply to request {Unique} ({Opcode}) failed (errno {Errno})")]
    public static partial void ReplyFailed(ILogger logger, ulong unique, string opcode, int errno);

    [LoggerMessage(EventId = 7, Level = LogLevel.Error, Message = "FUSE kernel protocol {Major}.{Minor} is not supported (7.28 or newer is needed)")]
    public static partial void UnsupportedKernel(ILogger logger, uint major, uint minor);

    [LoggerMessage(EventId = 9, Level = LogLevel.Error, Message = "FUSE request {Opcode} threw")]
    public static partial void HandlerThrew(ILogger logger, Exception exception, string opcode);

    [LoggerMessage(EventId = 10, Level = LogLevel.Warning, Message = "FUSE mount {Path} was left behind by a Blkmq server that is gone ({Server}); detached it, mounting afresh")]
    public static partial void DeadMountDetached(ILogger logger, string path, string server);

    [LoggerMessage(EventId = 11, Level = LogLevel.Information, Message = "FUSE transport: /dev/fuse, {Workers} worker threads ({Reason})")]
    public static partial void TransportDevFuse(ILogger logger, int workers, string reason);

    [LoggerMessage(EventId = 14, Level = LogLevel.Information, Message = "FUSE transport: io_uring, {Queues} queues of {Depth} entries (/dev/fuse for forgets and interrupts)")]
    public static partial void TransportIoUring(ILogger logger, int queues, int depth);

    [LoggerMessage(EventId = 12, Level = LogLevel.Error, Message = "FUSE io_uring queue {Queue} failed (errno {Errno})")]
    public static partial void RingFailed(ILogger logger, int queue, int errno);

    [LoggerMessage(EventId = 13, Level = LogLevel.Error, Message = "FUSE io_uring queue {Queue}: {Command} failed (errno {Errno})")]
    public static partial void RingCommandFailed(ILogger logger, int queue, string command, int errno);

    [LoggerMessage(EventId = 15, Level = LogLevel.Warning, Message = "FUSE mount {Path} is only for this user (not even root may open the file): allow_other needs user_allow_other in /etc/fuse.conf when not root")]
    public static partial void AllowOtherDropped(ILogger logger, string path);
}
