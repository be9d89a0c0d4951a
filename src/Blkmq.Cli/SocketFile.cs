using Blkmq.Cli.Interop;

namespace Blkmq.Cli;

/// <summary>
/// Checks the path a Unix listener of <c>blkmq serve</c> is to bind (<c>--control PATH</c>, <c>--listen unix:PATH</c>)
/// before anything binds it: the stale-socket probe replaces a socket nobody listens on, and it takes any empty file that
/// refuses connections for one, so an empty regular file the user named by mistake was deleted.
/// </summary>
internal static class SocketFile
{
    /// <summary>Throws when something other than a socket is at <paramref name="path"/>; nothing there, or a socket, is fine.</summary>
    /// <param name="option">The option and value that name the path, for the message (<c>--listen unix:PATH</c>).</param>
    /// <param name="path">The path.</param>
    /// <exception cref="IOException">A regular file, directory, FIFO or device is at the path.</exception>
    public static void ThrowIfNotASocket(string option, string path)
    {
        if (OperatingSystem.IsLinux() && TryGetFileType(path, out int type) && type != Libc.FileTypeSocket)
        {
            string what = type switch
            {
                0x8000 => "a regular file",
                0x4000 => "a directory",
                0xA000 => "a symbolic link",
                _ => "a FIFO or device",
            };
            throw new IOException($"{option}: {what} is there, not a socket; give a path that is free or holds a socket (it is left alone).");
        }
    }

    private static unsafe bool TryGetFileType(string path, out int type)
    {
        byte* buffer = stackalloc byte[Libc.StatxSize];
        if (Libc.Statx(Libc.AtCurrentDirectory, path, Libc.AtSymlinkNoFollow, Libc.StatxType, buffer) != 0)
        {
            // Nothing there (or it cannot be looked at): binding reports what is wrong.
            type = 0;
            return false;
        }

        type = *(ushort*)(buffer + Libc.StatxModeOffset) & Libc.FileTypeMask;
        return true;
    }
}
