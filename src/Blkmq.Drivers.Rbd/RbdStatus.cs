using System.Runtime.InteropServices;
using Blkmq.Drivers.Rbd.Interop;

namespace Blkmq.Drivers.Rbd;

/// <summary>Maps librbd's negative errno results to the block status a client sees, and to one-line messages.</summary>
internal static class RbdStatus
{
    /// <summary>Gets the status for <paramref name="errno"/> (positive).</summary>
    /// <param name="errno">The error number.</param>
    /// <returns>The status; <see cref="BlockStatus.IoError"/> for anything without a closer match.</returns>
    public static BlockStatus FromErrno(int errno) => errno switch
    {
        0 => BlockStatus.Ok,
        Errno.ENOSPC or Errno.EDQUOT or Errno.EFBIG => BlockStatus.NoSpace,
        Errno.EROFS or Errno.EPERM or Errno.EACCES => BlockStatus.ReadOnly,
        Errno.EOPNOTSUPP => BlockStatus.NotSupported,
        Errno.EINVAL => BlockStatus.Invalid,
        Errno.ECANCELED or Errno.ETIMEDOUT => BlockStatus.Timeout,
        Errno.ENODEV or Errno.ENXIO or Errno.ESHUTDOWN => BlockStatus.Offline,
        _ => BlockStatus.IoError,
    };

    /// <summary>Describes a negative result as the C library would (<c>strerror</c>).</summary>
    /// <param name="result">A negative errno.</param>
    /// <returns>The text.</returns>
    public static string Describe(int result) => Marshal.GetPInvokeErrorMessage(-result);
}
