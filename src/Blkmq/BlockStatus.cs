namespace Blkmq;

/// <summary>
/// The outcome of a request, carried as a value from the driver to the submitter (the analogue of
/// Linux <c>blk_status_t</c>). It becomes an exception only where a caller awaits.
/// </summary>
public enum BlockStatus : byte
{
    /// <summary>The request succeeded.</summary>
    Ok = 0,

    /// <summary>The operation is not supported by the device (<c>BLK_STS_NOTSUPP</c>).</summary>
    NotSupported = 1,

    /// <summary>The request timed out (<c>BLK_STS_TIMEOUT</c>).</summary>
    Timeout = 2,

    /// <summary>The device is out of space (<c>BLK_STS_NOSPC</c>).</summary>
    NoSpace = 3,

    /// <summary>A media or transport error (<c>BLK_STS_IOERR</c>).</summary>
    IoError = 4,

    /// <summary>The request was malformed or violated a limit (<c>BLK_STS_INVAL</c>).</summary>
    Invalid = 5,

    /// <summary>The device is gone or being removed (<c>BLK_STS_OFFLINE</c>).</summary>
    Offline = 6,

    /// <summary>The device is write protected (<c>BLK_STS_MEDIUM</c> for read-only media).</summary>
    ReadOnly = 7,

    /// <summary>A zoned-device rule was violated (<c>BLK_STS_ZONE_*</c>, unaligned write pointer).</summary>
    ZoneError = 8,

    /// <summary>
    /// Returned by <c>QueueRq</c> only: the driver is out of a shared resource; the request is requeued and the
    /// queue is run again after a short delay (<c>BLK_STS_RESOURCE</c>).
    /// </summary>
    Busy = 16,

    /// <summary>
    /// Returned by <c>QueueRq</c> only: the device itself is busy; the request is requeued and the queue is run
    /// again when one of its requests completes (<c>BLK_STS_DEV_RESOURCE</c>).
    /// </summary>
    ResourceBusy = 17,
}
