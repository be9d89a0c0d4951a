using System.IO;
using System.Net.Sockets;

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
            // Nobody listens, or it is no socket: a socket file is always empty, so a file with data in it is never
            // taken for one.
            if (new FileInfo(path).Length == 0)
            {
                File.Delete(path);
                return true;
            }

            notASocket = e;
        }

        return false;
    }
}
