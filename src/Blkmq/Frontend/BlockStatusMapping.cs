namespace Blkmq.Frontend;

/// <summary>
/// Turns a <see cref="BlockStatus"/> into what a front end's protocol carries: a Linux errno (for FUSE replies and
/// ublk results) or an NBD error. One table for every front end, so that a status means the same to every client.
/// </summary>
/// <remarks>
/// The errno map is Linux's <c>blk_status_to_errno</c> (<c>blk_errors[]</c> in <c>block/blk-core.c</c>) for the
/// statuses that have a <c>BLK_STS_*</c> twin. <see cref="BlockStatus.ReadOnly"/> has none (Linux refuses the write
/// before it becomes a request): it is <c>EPERM</c>, what a write to a read-only block device returns
/// (<c>blkdev_write_iter</c>) and what the NBD protocol asks for. <see cref="BlockStatus.ZoneError"/> is
/// <c>EIO</c>, as a zoned write that misses the write pointer fails in Linux.
/// </remarks>
public static class BlockStatusMapping
{
    /// <summary>Linux errno values (<c>asm-generic/errno-base.h</c>, <c>errno.h</c>) the map uses.</summary>
    private const int Eperm = 1;
    private const int Eio = 5;
    private const int Enomem = 12;
    private const int Ebusy = 16;
    private const int Enodev = 19;
    private const int Einval = 22;
    private const int Enospc = 28;
    private const int Eopnotsupp = 95;
    private const int Etimedout = 110;

    /// <summary>NBD error values (<c>doc/proto.md</c>, "Error values").</summary>
    private const uint NbdEperm = 1;
    private const uint NbdEio = 5;
    private const uint NbdEnomem = 12;
    private const uint NbdEinval = 22;
    private const uint NbdEnospc = 28;
    private const uint NbdEnotsup = 95;
    private const uint NbdEshutdown = 108;

    /// <summary>Gets the positive Linux errno for a status (0 for <see cref="BlockStatus.Ok"/>), as <c>blk_status_to_errno</c> negated.</summary>
    /// <param name="status">The status.</param>
    /// <returns>The errno; <c>EIO</c> for a status the table does not name.</returns>
    public static int ToErrno(BlockStatus status) => status switch
    {
        BlockStatus.Ok => 0,
        BlockStatus.NotSupported => Eopnotsupp, // BLK_STS_NOTSUPP
        BlockStatus.Timeout => Etimedout, // BLK_STS_TIMEOUT
        BlockStatus.NoSpace => Enospc, // BLK_STS_NOSPC
        BlockStatus.Invalid => Einval, // BLK_STS_INVAL
        BlockStatus.Offline => Enodev, // BLK_STS_OFFLINE
        BlockStatus.ReadOnly => Eperm,
        BlockStatus.Busy => Enomem, // BLK_STS_RESOURCE
        BlockStatus.ResourceBusy => Ebusy, // BLK_STS_DEV_RESOURCE
        _ => Eio, // BLK_STS_IOERR, and ZoneError
    };

    /// <summary>
    /// Gets the NBD error for a status (0 for <see cref="BlockStatus.Ok"/>): the errno of <see cref="ToErrno"/> where
    /// NBD has that value, <c>NBD_ESHUTDOWN</c> for <see cref="BlockStatus.Offline"/> (the disk is gone: the client
    /// should disconnect, as the protocol asks of that error), and <c>NBD_EIO</c> for the rest.
    /// </summary>
    /// <param name="status">The status.</param>
    /// <returns>The NBD error value.</returns>
    public static uint ToNbdError(BlockStatus status) => status switch
    {
        BlockStatus.Offline => NbdEshutdown,
        _ => ToErrno(status) switch
        {
            0 => 0,
            Eperm => NbdEperm,
            Enomem => NbdEnomem,
            Einval => NbdEinval,
            Enospc => NbdEnospc,
            Eopnotsupp => NbdEnotsup,
            _ => NbdEio,
        },
    };
}
