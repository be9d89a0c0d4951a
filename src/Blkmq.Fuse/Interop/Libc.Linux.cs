using System.Runtime.InteropServices;

namespace Blkmq.Fuse.Interop;

/// <summary>The libc calls the FUSE export needs: the device's file descriptor, mount and unmount.</summary>
internal static partial class Libc
{
    public const int OpenReadWrite = 0x2;
    public const int OpenCloseOnExec = 0x80000;
    public const int EventFdCloseOnExec = 0x80000;
    public const ulong MountNoSuid = 0x2;
    public const ulong MountNoDev = 0x4;
    public const int UnmountForce = 0x1;
    public const int UnmountDetach = 0x2;
    public const int AtCurrentDirectory = -100;
    public const int StatxForceSync = 0x2000;
    public const uint StatxType = 0x1;

    /// <summary>The size of <c>struct statx</c> (<c>include/uapi/linux/stat.h</c>), fixed by the kernel's ABI.</summary>
    public const int StatxSize = 256;

    public const int ENOENT = 2;
    public const int EINTR = 4;
    public const int EIO = 5;
    public const int ENXIO = 6;
    public const int EAGAIN = 11;
    public const int EACCES = 13;
    public const int EBUSY = 16;
    public const int ENODEV = 19;
    public const int EINVAL = 22;
    public const int EFBIG = 27;
    public const int ENOSPC = 28;
    public const int EROFS = 30;
    public const int EPERM = 1;
    public const int ENOSYS = 38;
    public const int EPROTO = 71;
    public const int EOPNOTSUPP = 95;
    public const int ETIMEDOUT = 110;
    public const int ENOTDIR = 20;
    public const int ECONNABORTED = 103;
    public const int ENOTCONN = 107;
    public const int EISDIR = 21;
    public const int ECANCELED = 125;
    public const int EBADF = 9;

    /// <summary><c>int open(const char *path, int flags)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags);

    /// <summary><c>int close(int fd)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "close")]
    public static partial int Close(int fd);

    /// <summary><c>ssize_t read(int fd, void *buf, size_t count)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    public static unsafe partial nint Read(int fd, byte* buffer, nuint count);

    /// <summary><c>ssize_t write(int fd, const void *buf, size_t count)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    public static unsafe partial nint Write(int fd, byte* buffer, nuint count);

    /// <summary><c>int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const void *data)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Mount(string source, string target, string fileSystemType, ulong flags, string data);

    /// <summary><c>char *realpath(const char *path, char *resolved_path)</c>, <c>resolved_path</c> null: the result is allocated, freed with <see cref="Free"/>.</summary>
    [LibraryImport("libc", EntryPoint = "realpath", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial nint RealPath(string path, nint resolvedPath);

    /// <summary><c>void free(void *ptr)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "free")]
    public static partial void Free(nint pointer);

    /// <summary><c>int umount2(const char *target, int flags)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "umount2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Unmount(string target, int flags);

    /// <summary>
    /// <c>int statx(int dirfd, const char *path, int flags, unsigned int mask, struct statx *buf)</c>: only its result
    /// is read, so <paramref name="buffer"/> is <see cref="StatxSize"/> bytes the caller never looks into.
    /// </summary>
    [LibraryImport("libc", EntryPoint = "statx", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static unsafe partial int Statx(int directoryFd, string path, int flags, uint mask, byte* buffer);

    public const int AddressFamilyUnix = 1;
    public const int SocketStream = 1;
    public const int SocketCloseOnExec = 0x80000;
    public const int SetDescriptorFlags = 2; // F_SETFD
    public const int DuplicateCloseOnExec = 1030; // F_DUPFD_CLOEXEC
    public const int SocketLevel = 1; // SOL_SOCKET
    public const int ScmRights = 1;

    /// <summary><c>int socketpair(int domain, int type, int protocol, int sv[2])</c>.</summary>
    [LibraryImport("libc", EntryPoint = "socketpair", SetLastError = true)]
    public static unsafe partial int SocketPair(int domain, int type, int protocol, int* fds);

    /// <summary><c>int fcntl(int fd, int cmd, int arg)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    public static partial int Fcntl(int fd, int command, int argument);

    /// <summary><c>ssize_t recvmsg(int sockfd, struct msghdr *msg, int flags)</c>: <paramref name="message"/> is a <c>struct msghdr</c> (56 bytes on 64-bit Linux).</summary>
    [LibraryImport("libc", EntryPoint = "recvmsg", SetLastError = true)]
    public static unsafe partial nint ReceiveMessage(int socket, byte* message, int flags);

    /// <summary><c>int eventfd(unsigned int initval, int flags)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    public static partial int EventFd(uint initialValue, int flags);

    /// <summary><c>uid_t geteuid(void)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "geteuid")]
    public static partial uint GetEffectiveUserId();

    /// <summary><c>gid_t getegid(void)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "getegid")]
    public static partial uint GetEffectiveGroupId();

    /// <summary><c>int sched_getaffinity(pid_t pid, size_t cpusetsize, cpu_set_t *mask)</c>; pid 0 is the calling thread.</summary>
    [LibraryImport("libc", EntryPoint = "sched_getaffinity", SetLastError = true)]
    public static unsafe partial int SchedGetAffinity(int pid, nuint size, ulong* mask);

    /// <summary><c>int sched_setaffinity(pid_t pid, size_t cpusetsize, const cpu_set_t *mask)</c>; pid 0 is the calling thread.</summary>
    [LibraryImport("libc", EntryPoint = "sched_setaffinity", SetLastError = true)]
    public static unsafe partial int SchedSetAffinity(int pid, nuint size, ulong* mask);
}
