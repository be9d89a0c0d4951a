using System.Runtime.InteropServices;

namespace Blkmq.Ublk.Interop;

/// <summary>The libc calls the ublk front end makes besides io_uring's: files, memory maps, eventfd, prctl.</summary>
internal static unsafe partial class UblkNative
{
    public const int OpenReadWrite = 0x2;
    public const int OpenCloseOnExec = 0x80000;
    public const int ProtRead = 0x1;
    public const int MapShared = 0x01;
    public const int MapPopulate = 0x08000;
    public const int EventFdCloseOnExec = 0x80000;

    /// <summary><c>PR_SET_IO_FLUSHER</c>: this thread does IO on behalf of the block layer; memory reclaim must not recurse into it.</summary>
    public const int PrSetIoFlusher = 57;

    public const int Eintr = 4;
    public const int Eagain = 11;
    public const int Enoent = 2;
    public const int Eacces = 13;
    public const int Enodev = 19;

    /// <summary><c>int open(const char *path, int flags)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Open(string path, int flags);

    /// <summary><c>int close(int fd)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "close")]
    public static partial int Close(int fd);

    /// <summary><c>void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset)</c>; -1 on failure.</summary>
    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    public static partial nint Mmap(nint address, nuint length, int protection, int flags, int fd, long offset);

    /// <summary><c>int munmap(void *addr, size_t length)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "munmap")]
    public static partial int Munmap(nint address, nuint length);

    /// <summary><c>int eventfd(unsigned int initval, int flags)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    public static partial int EventFd(uint initialValue, int flags);

    /// <summary><c>ssize_t write(int fd, const void *buf, size_t count)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    public static partial nint Write(int fd, void* buffer, nuint count);

    /// <summary><c>ssize_t pread(int fd, void *buf, size_t count, off_t offset)</c> (64-bit offset).</summary>
    [LibraryImport("libc", EntryPoint = "pread64", SetLastError = true)]
    public static partial nint Pread(int fd, void* buffer, nuint count, long offset);

    /// <summary><c>ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset)</c> (64-bit offset).</summary>
    [LibraryImport("libc", EntryPoint = "pwrite64", SetLastError = true)]
    public static partial nint Pwrite(int fd, void* buffer, nuint count, long offset);

    /// <summary><c>int prctl(int option, unsigned long arg2, ...)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "prctl", SetLastError = true)]
    public static partial int Prctl(int option, nuint arg2, nuint arg3, nuint arg4, nuint arg5);

    /// <summary><c>int sched_getaffinity(pid_t pid, size_t cpusetsize, cpu_set_t *mask)</c>; pid 0 is the calling thread.</summary>
    [LibraryImport("libc", EntryPoint = "sched_getaffinity", SetLastError = true)]
    public static partial int SchedGetAffinity(int pid, nuint size, ulong* mask);

    /// <summary><c>int sched_setaffinity(pid_t pid, size_t cpusetsize, const cpu_set_t *mask)</c>; pid 0 is the calling thread.</summary>
    [LibraryImport("libc", EntryPoint = "sched_setaffinity", SetLastError = true)]
    public static partial int SchedSetAffinity(int pid, nuint size, ulong* mask);

    /// <summary><c>int getpagesize(void)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "getpagesize")]
    public static partial int GetPageSize();
}
