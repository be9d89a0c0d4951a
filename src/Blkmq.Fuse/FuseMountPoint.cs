using System.Globalization;
using System.Runtime.InteropServices;
using Blkmq.Fuse.Interop;
using Microsoft.Extensions.Logging;

namespace Blkmq.Fuse;

/// <summary>
/// Makes a directory ready for a new Blkmq mount: a mount left behind by a Blkmq server that died (SIGKILL, a crash)
/// is detached, a mount whose server still runs is refused.
/// </summary>
/// <remarks>
/// A FUSE connection ends when the last descriptor of its <c>/dev/fuse</c> closes, which the kernel does for a killed
/// server; the mount stays, and every access to it fails with <c>ENOTCONN</c>, so the directory looks like none. The
/// export mounts with the source <c>blkmq:PID</c> so that a later server can name the process that serves a live
/// mount, and ask that process before it touches the mount: a stat of a mount whose server runs but hangs would hang
/// too.
/// </remarks>
internal static class FuseMountPoint
{
    /// <summary>More Blkmq mounts stacked on one directory than this are not cleared one by one.</summary>
    private const int MaxStacked = 16;

    /// <summary>Links followed at most while resolving a mount point, as the kernel's <c>MAXSYMLINKS</c>.</summary>
    private const int MaxSymbolicLinks = 40;

    /// <summary>Gets the source this process mounts with: <c>blkmq:PID</c>.</summary>
    public static string Source { get; } = FuseMountEntry.BlkmqSource + ":" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// Gets the path at which the kernel's mount table lists a mount on <paramref name="mountPoint"/>: with its symbolic
    /// links resolved (a mount on <c>/var/run/x</c> is listed at <c>/run/x</c>). The directory itself is never stat'ed:
    /// a dead mount hides it (<c>ENOTCONN</c>), a hung one would hang; its parent is resolved, and it is followed only
    /// if it is a link itself (a mount's root is none).
    /// </summary>
    /// <param name="mountPoint">A full path without a trailing slash.</param>
    public static string Resolve(string mountPoint)
    {
        string path = mountPoint;
        for (int links = 0; links < MaxSymbolicLinks; links++)
        {
            string? parent = Path.GetDirectoryName(path);
            if (parent is null)
            {
                return path; // the root
            }

            string resolvedParent = RealPath(parent) ?? parent;
            string candidate = Path.Join(resolvedParent, Path.GetFileName(path));
            string? target;
            try
            {
                target = new FileInfo(candidate).LinkTarget;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                target = null; // Not there, or not ours to read: the mount reports it in its own words.
            }

            if (target is null)
            {
                return candidate;
            }

            path = Path.TrimEndingDirectorySeparator(Path.GetFullPath(target, resolvedParent));
        }

        return path;
    }

    /// <summary>
    /// Detaches every dead Blkmq mount on top at <paramref name="mountPoint"/> (logging each); leaves anything else as it is.
    /// </summary>
    /// <param name="mountPoint">A full path without a trailing slash.</param>
    /// <param name="logger">Where to say that a dead mount was detached.</param>
    /// <exception cref="IOException">
    /// A live Blkmq mount is there (the message names its server's process id when known), a FUSE mount of another
    /// server that is gone is there, or a dead mount cannot be detached.
    /// </exception>
    public static void Reclaim(string mountPoint, ILogger logger)
    {
        for (int i = 0; i < MaxStacked; i++)
        {
            FuseMountEntry? top = FuseMountTable.FindTop(mountPoint);
            if (top is not { IsFuse: true })
            {
                return;
            }

            int? pid = top.ServerProcessId;
            if (top.IsBlkmq && pid is int serving && IsFuseServer(serving))
            {
                // Not even a stat: the server runs, and may be busy or hung.
                throw new IOException($"The mount point {mountPoint} is already served by Blkmq (pid {serving}); stop that server first or choose another directory.");
            }

            int errno = Probe(mountPoint);
            if (errno == 0)
            {
                if (!top.IsBlkmq)
                {
                    return; // Someone else's live file system: mounting over it is the caller's choice, as before.
                }

                throw new IOException($"The mount point {mountPoint} is already a live Blkmq mount (source {top.Source}); stop its server first or choose another directory.");
            }

            if (errno is not (Libc.ENOTCONN or Libc.ECONNABORTED))
            {
                return; // Not a dead connection: the usual checks of the directory report it.
            }

            if (!top.IsBlkmq)
            {
                throw new IOException($"The mount point {mountPoint} is a FUSE mount of another server ({top.FileSystemType}, source {top.Source}) that is gone; unmount it first (umount -l {mountPoint}).");
            }

            // Lazily: a process that still has a file of the dead mount open keeps it, everyone else sees the directory.
            if (Fusermount.IsNeeded)
            {
                if (!Fusermount.Unmount(mountPoint, lazy: true))
                {
                    throw new IOException($"Cannot detach the dead Blkmq mount at {mountPoint} with {Fusermount.Program} -u -z.");
                }
            }
            else if (Libc.Unmount(mountPoint, Libc.UnmountDetach) != 0)
            {
                int failure = Marshal.GetLastPInvokeError();
                if (failure != Libc.EINVAL)
                {
                    // EINVAL: no mount there any more, someone else detached it meanwhile; anything else is a failure.
                    throw new IOException($"Cannot detach the dead Blkmq mount at {mountPoint}: {Marshal.GetPInvokeErrorMessage(failure)} (errno {failure}).");
                }
            }

            FuseLog.DeadMountDetached(logger, mountPoint, pid is int gone ? string.Create(CultureInfo.InvariantCulture, $"pid {gone}") : "pid unknown");
        }

        throw new IOException($"The mount point {mountPoint} has more than {MaxStacked} dead Blkmq mounts stacked on it; unmount them first (umount -l {mountPoint}).");
    }

    /// <summary><c>realpath(3)</c> of <paramref name="path"/>, or null if it cannot be resolved (missing, no access).</summary>
    private static string? RealPath(string path)
    {
        nint resolved = Libc.RealPath(path, 0);
        if (resolved == 0)
        {
            return null;
        }

        try
        {
            return Marshal.PtrToStringUTF8(resolved);
        }
        finally
        {
            Libc.Free(resolved);
        }
    }

    /// <summary>Stats <paramref name="path"/> through to the file system (no cached attributes) and returns 0 or the errno.</summary>
    private static unsafe int Probe(string path)
    {
        byte* buffer = stackalloc byte[Libc.StatxSize];
        return Libc.Statx(Libc.AtCurrentDirectory, path, Libc.StatxForceSync, Libc.StatxType, buffer) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    /// <summary>
    /// Gets whether process <paramref name="pid"/> runs and has <c>/dev/fuse</c> open: a Blkmq server, not a process that
    /// merely reused a dead one's id (nor a killed one whose descriptors are closed already).
    /// </summary>
    private static bool IsFuseServer(int pid)
    {
        string process = string.Create(CultureInfo.InvariantCulture, $"/proc/{pid}");
        IEnumerable<string> descriptors;
        try
        {
            descriptors = Directory.GetFileSystemEntries(process + "/fd");
        }
        catch (UnauthorizedAccessException)
        {
            // Its descriptors cannot be read (not root): a process with that id runs, so assume it serves.
            return Directory.Exists(process);
        }
        catch (IOException)
        {
            // No such process (it exited meanwhile, or long before).
            return false;
        }

        foreach (string descriptor in descriptors)
        {
            try
            {
                if (new FileInfo(descriptor).LinkTarget == "/dev/fuse")
                {
                    return true;
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Closed since it was listed: not the descriptor that serves a mount.
            }
        }

        return false;
    }
}
