using System.Runtime.InteropServices;

namespace Blkmq.IoUring.Interop;

/// <summary>
/// The raw system calls behind io_uring (no liburing: Debian's 2.3 keeps its hot functions in headers) and the
/// memory mapping of its rings. The three io_uring syscall numbers are the same on every architecture but alpha.
/// </summary>
internal static unsafe partial class IoUringNative
{
    public const long SysIoUringSetup = 425;
    public const long SysIoUringEnter = 426;
    public const long SysIoUringRegister = 427;

    public const long OffSqRing = 0;
    public const long OffCqRing = 0x8000000;
    public const long OffSqes = 0x10000000;

    public const uint FeatSingleMmap = 1;

    public const uint EnterGetEvents = 1;

    public const uint RegisterFiles = 2;
    public const uint UnregisterFiles = 3;
    public const uint RegisterRingFds = 20;
    public const uint UnregisterRingFds = 21;

    public const uint EnterRegisteredRing = 1u << 4;

    public const int ProtReadWrite = 0x1 | 0x2;
    public const int MapShared = 0x01;
    public const int MapPopulate = 0x08000;

    /// <summary><c>long syscall(long number, ...)</c>: glibc's wrapper moves the arguments into registers, so a fixed signature is safe.</summary>
    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    public static partial long Syscall(long number, long arg1, long arg2, long arg3, long arg4, long arg5, long arg6);

    /// <summary><c>int io_uring_setup(u32 entries, struct io_uring_params *p)</c>; -1 and errno on failure.</summary>
    public static int Setup(uint entries, IoUringParams* parameters) =>
        (int)Syscall(SysIoUringSetup, entries, (long)parameters, 0, 0, 0, 0);

    /// <summary><c>int io_uring_enter(unsigned fd, unsigned to_submit, unsigned min_complete, unsigned flags, sigset_t *sig, size_t sz)</c>.</summary>
    public static int Enter(int fd, uint toSubmit, uint minComplete, uint flags) =>
        (int)Syscall(SysIoUringEnter, fd, toSubmit, minComplete, flags, 0, 0);

    /// <summary><c>int io_uring_register(unsigned fd, unsigned opcode, void *arg, unsigned nr_args)</c>.</summary>
    public static int Register(int fd, uint opcode, void* argument, uint count) =>
        (int)Syscall(SysIoUringRegister, fd, opcode, (long)argument, count, 0, 0);

    /// <summary><c>void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset)</c>; -1 on failure.</summary>
    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    public static partial nint Mmap(nint address, nuint length, int protection, int flags, int fd, long offset);

    /// <summary><c>int munmap(void *addr, size_t length)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "munmap")]
    public static partial int Munmap(nint address, nuint length);

    /// <summary><c>int close(int fd)</c>.</summary>
    [LibraryImport("libc", EntryPoint = "close")]
    public static partial int Close(int fd);
}
