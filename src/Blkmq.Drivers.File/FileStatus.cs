using Blkmq.Drivers.File.Interop;

namespace Blkmq.Drivers.File;

/// <summary>Maps an errno from the kernel to the block status a client sees (the reverse of Linux's <c>blk_status_to_errno</c>).</summary>
internal static class FileStatus
{
    /// <summary>Gets the status for <paramref name="errno"/> (positive).</summary>
    /// <param name="errno">The error number.</param>
    /// <returns>The status; <see cref="BlockStatus.IoError"/> for anything without a closer match.</returns>
    public static BlockStatus FromErrno(int errno) => errno switch
    {
        0 => BlockStatus.Ok,
        Errno.ENOSPC or Errno.EDQUOT or Errno.EFBIG => BlockStatus.NoSpace,
        Errno.EROFS or Errno.EPERM or Errno.EACCES => BlockStatus.ReadOnly,
        Errno.EOPNOTSUPP or Errno.ENOTTY => BlockStatus.NotSupported,
        Errno.EINVAL => BlockStatus.Invalid,
        Errno.ECANCELED or Errno.ETIMEDOUT => BlockStatus.Timeout,
        Errno.ENODEV or Errno.ENXIO => BlockStatus.Offline,
        _ => BlockStatus.IoError,
    };
}
