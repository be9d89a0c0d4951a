using System.Runtime.InteropServices;

namespace Blkmq.Nbd.Interop;

/// <summary>The libc call of the NBD server: what kind of file a Unix socket path names.</summary>
internal static partial class Libc
{
    public const int AtCurrentDirectory = -100;
    public const int AtSymlinkNoFollow = 0x100;
    public const uint StatxType = 0x1;

    /// <summary>The size of <c>struct statx</c> (<c>include/uapi/linux/stat.h</c>), fixed by the kernel's ABI.</summary>
    public const int StatxSize = 256;

    /// <summary>The offset of <c>__u16 stx_mode</c> in <c>struct statx</c> (after <c>__u32 stx_mask, stx_blksize;
    /// __u64 stx_attributes; __u32 stx_nlink, stx_uid, stx_gid</c>).</summary>
    public const int StatxModeOffset = 28;

    public const int FileTypeMask = 0xF000; // S_IFMT
    public const int FileTypeSocket = 0xC000; // S_IFSOCK
    public const int FileTypeRegular = 0x8000; // S_IFREG
    public const int FileTypeDirectory = 0x4000; // S_IFDIR
    public const int FileTypeSymbolicLink = 0xA000; // S_IFLNK

    /// <summary><c>int statx(int dirfd, const char *path, int flags, unsigned int mask, struct statx *buf)</c>;
    /// <paramref name="buffer"/> is <see cref="StatxSize"/> bytes.</summary>
    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static unsafe partial int Statx(int directoryFd, string path, int flags, uint mask, byte* buffer);
}
