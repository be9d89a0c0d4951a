using System.IO;
using System.Net.Sockets;
using Blkmq.Nbd.Interop;

namespace Blkmq.Nbd;

/// <summary>The path a Unix listener binds: a socket file left by a server that did not stop cleanly is removed first.</summary>
internal static class UnixSocketPath
{
    /// <summary>
    /// Makes <paramref name="path"/> free to bind if it holds a socket nobody listens on; leaves anything else alone.
    /// </summary>
    /// <param name="path">The socket's path.</param>
    /// <param name="notASocket">When the path holds a file that refuses connections but is no socket: the refusal; null
    /// when a server listens there.</param>
    /// <returns>Whether the path is free now (nothing was there, or a stale socket was removed).</returns>
    /// <exception cref="SocketException">Probing the path failed otherwise (permission denied, for one).</exception>
    public static bool TryRemoveStale(string path, out SocketException? notASocket)
    {
        notASocket = null;
        if (!File.Exists(path))
        {
            return true;
        }

        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
        {
            // Nobody listens, or it is no socket: only a socket is removed (an empty regular file the user named by
            // mistake refuses connections too).
            if (TryGetFileType(path, out int type) && type == Libc.FileTypeSocket)
            {
                File.Delete(path);
                return true;
            }

            notASocket = e;
        }

        return false;
    }

    /// <summary>
    /// Throws when something other than a socket is at <paramref name="path"/>, before anything binds it; nothing
    /// there, or a socket, is fine (binding then reports a live server).
    /// </summary>
    /// <param name="option">The option and value that name the path, for the message (<c>--listen unix:PATH</c>).</param>
    /// <param name="path">The path.</param>
    /// <exception cref="IOException">A regular file, directory, FIFO or device is at the path.</exception>
    public static void ThrowIfNotASocket(string option, string path)
    {
        if (TryGetFileType(path, out int type) && type != Libc.FileTypeSocket)
        {
            string what = type switch
            {
                Libc.FileTypeRegular => "a regular file",
                Libc.FileTypeDirectory => "a directory",
                Libc.FileTypeSymbolicLink => "a symbolic link",
                _ => "a FIFO or device",
            };
            throw new IOException($"{option}: {what} is there, not a socket; give a path that is free or holds a socket (it is left alone).");
        }
    }

    private static unsafe bool TryGetFileType(string path, out int type)
    {
        byte* buffer = stackalloc byte[Libc.StatxSize];
        if (!OperatingSystem.IsLinux() || Libc.Statx(Libc.AtCurrentDirectory, path, Libc.AtSymlinkNoFollow, Libc.StatxType, buffer) != 0)
        {
            // Nothing there (or it cannot be looked at): binding reports what is wrong.
            type = 0;
            return false;
        }

        type = *(ushort*)(buffer + Libc.StatxModeOffset) & Libc.FileTypeMask;
        return true;
    }
}
