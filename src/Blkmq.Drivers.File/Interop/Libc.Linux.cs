using System.Runtime.InteropServices;

namespace Blkmq.Drivers.File.Interop;

/// <summary>The libc calls of the file driver: open and lock the file, size it, and move its data.</summary>
internal static unsafe partial class Libc
{
    public const int ORdOnly = 0;
    public const int ORdWr = 2;
    public const int OCreat = 0x40;
    public const int OExcl = 0x80;
    public const int ODirect = 0x4000;
    public const int OCloexec = 0x80000;
    public const short PollIn = 0x1;

    public const int LockSh = 1;
    public const int LockEx = 2;
    public const int LockNb = 4;
    public const int LockUn = 8;

    public const int SeekData = 3;
    public const int SeekHole = 4;

    public const int FallocKeepSize = 0x01;
    public const int FallocPunchHole = 0x02;
    public const int FallocZeroRange = 0x10;

    /// <summary><c>RWF_DSYNC</c>: this write is durable when it returns (per-IO <c>O_DSYNC</c>).</summary>
    public const int RwfDsync = 0x2;

    /// <summary><c>RWF_NOWAIT</c>: fail with EAGAIN instead of waiting for the device (a read not in the page cache).</summary>
    public const int RwfNowait = 0x8;

    /// <summary><c>AT_FDCWD</c>: a relative path is looked up from the working directory.</summary>
    public const int AtFdcwd = -100;
    public const int AtEmptyPath = 0x1000;
    public const uint StatxType = 0x1;
    public const uint StatxBasicStats = 0x7ff;
    public const uint StatxDioAlign = 0x2000;

    public const int SIfmt = 0xF000;
    public const int SIfreg = 0x8000;
    public const int SIfblk = 0x6000;
    public const int SIfifo = 0x1000;
    public const int SIfchr = 0x2000;
    public const int SIfdir = 0x4000;
    public const int SIfsock = 0xC000;

    /// <summary><c>BLKGETSIZE64 = _IOR(0x12, 114, size_t)</c>.</summary>
    public const ulong BlkGetSize64 = 0x80081272;

    /// <summary><c>BLKSSZGET = _IO(0x12, 104)</c>: logical block size.</summary>
    public const ulong BlkSszGet = 0x1268;

    /// <summary><c>BLKPBSZGET = _IO(0x12, 123)</c>: physical block size.</summary>
    public const ulong BlkPbszGet = 0x127b;

    /// <summary><c>BLKROGET = _IO(0x12, 94)</c>: whether the device is read-only.</summary>
    public const ulong BlkRoGet = 0x125e;

    /// <summary><c>BLKDISCARD = _IO(0x12, 119)</c>: argument <c>uint64_t range[2]</c> (start, length).</summary>
    public const ulong BlkDiscard = 0x1277;

    /// <summary><c>BLKZEROOUT = _IO(0x12, 127)</c>: argument <c>uint64_t range[2]</c> (start, length).</summary>
    public const ulong BlkZeroOut = 0x127f;

    public const int EfdCloexec = 0x80000;

    /// <summary><c>int open(const char *path, int flags, mode_t mode)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags, int mode);

    /// <summary><c>int close(int fd)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "close")]
    public static partial int Close(int fd);

    /// <summary><c>int flock(int fd, int operation)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    public static partial int Flock(int fd, int operation);

    /// <summary><c>F_OFD_GETLK</c>: would this open-file-description lock conflict with another one?</summary>
    public const int FOfdGetLk = 36;

    /// <summary><c>F_OFD_SETLK</c>: take or drop an open-file-description lock without waiting.</summary>
    public const int FOfdSetLk = 37;

    /// <summary><c>F_RDLCK</c>.</summary>
    public const short FRdLck = 0;

    /// <summary><c>F_WRLCK</c>.</summary>
    public const short FWrLck = 1;

    /// <summary><c>F_UNLCK</c>.</summary>
    public const short FUnLck = 2;

    /// <summary><c>int fcntl(int fd, int cmd, struct flock *lock)</c> for the lock commands.</summary>
    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    public static partial int FcntlLock(int fd, int cmd, FileRangeLock* lockRange);

    /// <summary><c>int statx(int dirfd, const char *path, int flags, unsigned int mask, struct statx *buf)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int StatxCall(int dirFd, string path, int flags, uint mask, Statx* buffer);

    /// <summary><c>int ioctl(int fd, unsigned long request, void *argument)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static partial int Ioctl(int fd, ulong request, void* argument);

    /// <summary><c>int ftruncate(int fd, off_t length)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "ftruncate", SetLastError = true)]
    public static partial int Ftruncate(int fd, long length);

    /// <summary><c>TMPFS_MAGIC</c>, <c>statfs.f_type</c> of tmpfs (<c>linux/magic.h</c>).</summary>
    public const long TmpfsMagic = 0x01021994;

    /// <summary>
    /// <c>int fstatfs(int fd, struct statfs *buf)</c>; the buffer must hold a <c>struct statfs</c> (120 bytes on
    /// 64-bit Linux), whose first field is <c>__fsword_t f_type</c>.
    /// </summary>
    [LibraryImport("libc", EntryPoint = "fstatfs", SetLastError = true)]
    public static partial int Fstatfs(int fd, byte* buffer);

    /// <summary><c>ssize_t preadv2(int fd, const struct iovec *iov, int iovcnt, off_t offset, int flags)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "preadv2", SetLastError = true)]
    public static partial nint Preadv2(int fd, IoVec* iov, int count, long offset, int flags);

    /// <summary><c>ssize_t pwritev2(int fd, const struct iovec *iov, int iovcnt, off_t offset, int flags)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "pwritev2", SetLastError = true)]
    public static partial nint Pwritev2(int fd, IoVec* iov, int count, long offset, int flags);

    /// <summary><c>int fdatasync(int fd)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
    public static partial int Fdatasync(int fd);

    /// <summary><c>int fallocate(int fd, int mode, off_t offset, off_t len)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "fallocate", SetLastError = true)]
    public static partial int Fallocate(int fd, int mode, long offset, long length);

    /// <summary><c>off_t lseek(int fd, off_t offset, int whence)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    public static partial long Lseek(int fd, long offset, int whence);

    /// <summary><c>int eventfd(unsigned int initval, int flags)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    public static partial int EventFd(uint initialValue, int flags);

    /// <summary><c>ssize_t write(int fd, const void *buf, size_t count)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    public static partial nint Write(int fd, void* buffer, nuint count);

    /// <summary><c>ssize_t read(int fd, void *buf, size_t count)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    public static partial nint Read(int fd, void* buffer, nuint count);

    /// <summary><c>int poll(struct pollfd *fds, nfds_t nfds, int timeout)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    public static partial int Poll(PollFd* fds, nuint count, int timeoutMilliseconds);

    /// <summary><c>pid_t gettid(void)</c>: the calling thread's kernel id.</summary>
    [LibraryImport("libc", EntryPoint = "gettid")]
    public static partial int GetTid();
}
