using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Blkmq.Fuse.Interop;

namespace Blkmq.Fuse;

/// <summary>
/// Mounting and unmounting without root, as libfuse does: <c>fusermount3</c> (setuid root, from Debian's <c>fuse3</c>)
/// opens <c>/dev/fuse</c>, mounts it and passes the descriptor back over a Unix socket named by <c>_FUSE_COMMFD</c>.
/// With <c>auto_unmount</c> it stays, waiting for that socket to close, and then unmounts, but only where it can tell
/// the mount is dead (fusermount3 3.14 checks as root: a mount without <c>allow_other</c> refuses it, and over io_uring
/// the connection outlives the process a while). So a watchdog (<c>/bin/sh</c>) stays too: its standard input is a
/// pipe only this process writes; end of input without the word this process sends when it unmounts itself means the
/// server died, and the watchdog lazily unmounts (<c>fusermount3 -u -z</c>) the mount if it is still this server's.
/// A server that is killed leaves no mount behind.
/// </summary>
internal sealed unsafe class Fusermount : IDisposable
{
    /// <summary>The helper's name, looked up in <c>PATH</c>.</summary>
    public const string Program = "fusermount3";

    private const int HighDescriptor = 1000;

    // The watchdog: reads a line; at end of input (the server died: nobody holds the pipe's other end) it unmounts
    // the directory ($1) while its top mount is still this server's ($2 = blkmq:PID), retrying for 5 s.
    private const string WatchdogScript = """
        trap '' HUP INT TERM
        read -r line && exit 0
        i=0
        while findmnt -n -o SOURCE --mountpoint "$1" 2>/dev/null | tail -n 1 | grep -qx "$2"; do
          fusermount3 -u -q -z -- "$1" 2>/dev/null && exit 0
          i=$((i + 1)); [ "$i" -ge 50 ] && exit 1
          sleep 0.1
        done
        """;

    private readonly Process _process;
    private readonly Process? _watchdog;
    private readonly int _socket;
    private int _disposed;

    private Fusermount(Process process, int socket, Process? watchdog)
    {
        _process = process;
        _socket = socket;
        _watchdog = watchdog;
    }

    /// <summary>Gets whether this process mounts through <c>fusermount3</c>: it is not root.</summary>
    public static bool IsNeeded => Libc.GetEffectiveUserId() != 0;

    /// <summary>Gets whether <c>/etc/fuse.conf</c> lets users mount with <c>allow_other</c>.</summary>
    public static bool UsersMayAllowOther
    {
        get
        {
            try
            {
                return File.ReadLines("/etc/fuse.conf").Any(static line => line.Trim() == "user_allow_other");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return false;
            }
        }
    }

    /// <summary>
    /// Runs <c>fusermount3 -o OPTIONS -- MOUNTPOINT</c> and receives the mounted <c>/dev/fuse</c> descriptor.
    /// </summary>
    /// <param name="mountPoint">The directory.</param>
    /// <param name="options">Mount options (<c>fsname=</c>, <c>subtype=</c>, <c>auto_unmount</c>, ...); the helper adds <c>fd</c>, <c>rootmode</c>, <c>user_id</c>, <c>group_id</c>.</param>
    /// <param name="fd">The descriptor of the mounted connection.</param>
    /// <returns>The helper, still running (it unmounts when disposed or when this process dies).</returns>
    /// <exception cref="IOException">The helper is missing or refused; the message has its one-line reason.</exception>
    public static Fusermount Mount(string mountPoint, string options, out int fd)
    {
        int* fds = stackalloc int[2];
        if (Libc.SocketPair(Libc.AddressFamilyUnix, Libc.SocketStream | Libc.SocketCloseOnExec, 0, fds) != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            throw new IOException($"Cannot create a socket pair for {Program}: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}).");
        }

        // The helper's end is inherited (no close-on-exec); ours is not, so only this process holds it.
        _ = Libc.Fcntl(fds[0], Libc.SetDescriptorFlags, 0);
        // Its output is this process' (as with libfuse): with auto_unmount it outlives this process, and a pipe of
        // ours would break under it (SIGPIPE) just when it has to unmount.
        var start = new ProcessStartInfo(Program)
        {
            UseShellExecute = false,
        };
        start.ArgumentList.Add("-o");
        start.ArgumentList.Add(options);
        start.ArgumentList.Add("--");
        start.ArgumentList.Add(mountPoint);
        start.Environment["_FUSE_COMMFD"] = fds[0].ToString(CultureInfo.InvariantCulture);
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new IOException($"Cannot start {Program}.");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            _ = Libc.Close(fds[0]);
            _ = Libc.Close(fds[1]);
            throw new IOException($"Mounting without root needs {Program} (Debian: apt-get install fuse3): {e.Message}.", e);
        }

        _ = Libc.Close(fds[0]);
        fd = ReceiveDescriptor(fds[1]);
        if (fd < 0)
        {
            // The helper failed: it said why on this process' standard error, and exited.
            _ = Libc.Close(fds[1]);
            process.WaitForExit();
            int exitCode = process.ExitCode;
            process.Dispose();
            throw new IOException($"{Program} could not mount {mountPoint} (exit code {exitCode}; its reason is on standard error above).");
        }

        _ = Libc.Fcntl(fd, Libc.SetDescriptorFlags, 1); // FD_CLOEXEC

        // A killed process' descriptors close in ascending order. The helper unmounts only if the mount answers
        // ENOTCONN when the socket closes, so the socket must close after /dev/fuse: move it above the descriptors
        // this process will likely ever have.
        int socket = Libc.Fcntl(fds[1], Libc.DuplicateCloseOnExec, HighDescriptor);
        if (socket >= 0)
        {
            _ = Libc.Close(fds[1]);
        }
        else
        {
            socket = fds[1];
        }

        return new Fusermount(process, socket, StartWatchdog(mountPoint, FuseMountPoint.Source));
    }

    /// <summary>Starts the watchdog that unmounts <paramref name="mountPoint"/> should this process die; null if it cannot start.</summary>
    private static Process? StartWatchdog(string mountPoint, string source)
    {
        var start = new ProcessStartInfo("/bin/sh")
        {
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(WatchdogScript);
        start.ArgumentList.Add("blkmq-fuse-watchdog");
        start.ArgumentList.Add(mountPoint);
        start.ArgumentList.Add(source);
        try
        {
            return Process.Start(start);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }

    /// <summary>Runs <c>fusermount3 -u</c> (<c>-z</c> for a lazy unmount) on <paramref name="mountPoint"/>.</summary>
    /// <remarks>
    /// The helper writes to the server's own standard error (<c>-q</c> keeps "not mounted" quiet): reading a redirected
    /// pipe would start .NET's socket engine and its thread, at shutdown, in a server that may never have used a
    /// socket (<c>--listen none</c>); once in CI that thread could not be created and the server died with an
    /// unhandled exception instead of unmounting.
    /// </remarks>
    /// <returns>Whether it unmounted.</returns>
    public static bool Unmount(string mountPoint, bool lazy)
    {
        var start = new ProcessStartInfo(Program) { UseShellExecute = false };
        start.ArgumentList.Add("-u");
        start.ArgumentList.Add("-q");
        if (lazy)
        {
            start.ArgumentList.Add("-z");
        }

        start.ArgumentList.Add("--");
        start.ArgumentList.Add(mountPoint);
        try
        {
            using Process process = Process.Start(start)!;
            process.WaitForExit();
            return process.ExitCode == 0;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }

    /// <summary>Closes the socket: the helper unmounts (if still mounted) and exits; waits for it.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        if (_watchdog is not null)
        {
            // A line: this server unmounted (or tried to) itself; the watchdog leaves the directory alone.
            try
            {
                _watchdog.StandardInput.WriteLine("exit");
                _watchdog.StandardInput.Close();
            }
            catch (IOException)
            {
                // Already gone.
            }

            if (!_watchdog.WaitForExit(TimeSpan.FromSeconds(10)))
            {
                _watchdog.Kill();
            }

            _watchdog.Dispose();
        }

        _ = Libc.Close(_socket);
        if (!_process.WaitForExit(TimeSpan.FromSeconds(10)))
        {
            _process.Kill();
        }

        _process.Dispose();
    }

    /// <summary>Receives one descriptor (<c>SCM_RIGHTS</c>) with its one byte of data, as libfuse's <c>receive_fd</c>.</summary>
    private static int ReceiveDescriptor(int socket)
    {
        // struct msghdr (56 bytes): name, namelen, iov, iovlen, control, controllen, flags. struct cmsghdr: len
        // (size_t), level, type, then the int: CMSG_SPACE(sizeof(int)) = 24 bytes.
        byte data = 0;
        nint* iov = stackalloc nint[2];
        iov[0] = (nint)(&data);
        iov[1] = 1;
        byte* control = stackalloc byte[24];
        new Span<byte>(control, 24).Clear();
        byte* message = stackalloc byte[56];
        new Span<byte>(message, 56).Clear();
        *(nint*)(message + 16) = (nint)iov;
        *(nint*)(message + 24) = 1;
        *(nint*)(message + 32) = (nint)control;
        *(nint*)(message + 40) = 24;
        nint received;
        do
        {
            received = Libc.ReceiveMessage(socket, message, 0);
        }
        while (received < 0 && Marshal.GetLastPInvokeError() == Libc.EINTR);

        if (received <= 0 || *(nint*)control < 20 || *(int*)(control + 8) != Libc.SocketLevel || *(int*)(control + 12) != Libc.ScmRights)
        {
            return -1;
        }

        return *(int*)(control + 16);
    }
}
