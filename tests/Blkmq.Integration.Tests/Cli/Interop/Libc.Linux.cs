using System.Runtime.InteropServices;

namespace Blkmq.Integration.Tests.Cli.Interop;

/// <summary>The libc call the CLI tests need to stop <c>blkmq serve</c> the way a user, a service manager or the OOM killer does.</summary>
internal static partial class Libc
{
    public const int SigInt = 2;
    public const int SigKill = 9;
    public const int SigTerm = 15;
    public const int SigCont = 18;
    public const int SigStop = 19;

    /// <summary><c>int kill(pid_t pid, int sig)</c>: sends a signal to one process, named by its id.</summary>
    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    public static partial int Kill(int pid, int signal);
}
