using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Blkmq.Nbd;

namespace Blkmq.Cli;

/// <summary>
/// <c>blkmq serve --run CMD</c> (nbdkit's captive mode): once everything serves, runs CMD with <c>/bin/sh -c</c> and
/// the shell variables <c>$uri</c>, <c>$nbd</c>, <c>$port</c>, <c>$unixsocket</c>, <c>$export</c>, <c>$file</c> (the FUSE
/// file) and <c>$dev</c> (the ublk device with <c>--ublk</c>, else empty) describing the first export; the server stops when
/// CMD exits and exits with its status.
/// </summary>
internal static class CaptiveCommand
{
    /// <summary>The variables CMD sees, from the first export, its first listener and its FUSE file.</summary>
    public static Dictionary<string, string> Variables(string exportName, EndPoint? endPoint, string? fuseFile, string? device = null)
    {
        string uri = endPoint is null ? string.Empty : NbdServer.FormatUri(endPoint, exportName);
        string port = endPoint is IPEndPoint ip ? ip.Port.ToString(CultureInfo.InvariantCulture) : string.Empty;
        string unixSocket = endPoint is UnixDomainSocketEndPoint unix ? unix.ToString() : string.Empty;
        string nbd = endPoint switch
        {
            // qemu's legacy nbd: syntax, as nbdkit's $nbd.
            IPEndPoint address => FormattableString.Invariant($"nbd:{address.Address}:{address.Port}:exportname={exportName}"),
            UnixDomainSocketEndPoint => $"nbd:unix:{unixSocket}:exportname={exportName}",
            _ => string.Empty,
        };
        return new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["uri"] = uri,
            ["nbd"] = nbd,
            ["port"] = port,
            ["unixsocket"] = unixSocket,
            ["export"] = exportName,
            ["exportname"] = exportName,
            ["file"] = fuseFile ?? string.Empty,
            ["dev"] = device ?? string.Empty,
        };
    }

    /// <summary>Starts CMD under <c>/bin/sh -c</c> with <paramref name="variables"/> in its environment.</summary>
    /// <exception cref="System.ComponentModel.Win32Exception">The shell cannot be started.</exception>
    public static Process Start(string command, IReadOnlyDictionary<string, string> variables)
    {
        var info = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add(command);
        foreach ((string name, string value) in variables)
        {
            info.Environment[name] = value;
        }

        return Process.Start(info) ?? throw new InvalidOperationException("/bin/sh did not start.");
    }

    /// <summary>The exit status to pass on: the command's, or 128 + signal as a shell reports a killed command.</summary>
    public static int ExitStatus(Process process) => process.ExitCode;

    /// <summary>Makes a private directory for <c>--listen unix:-</c>; the socket goes in it, and both are removed on exit.</summary>
    public static string CreatePrivateSocketDirectory()
    {
        DirectoryInfo directory = Directory.CreateTempSubdirectory("blkmq-");
        return directory.FullName;
    }

    /// <summary>Kills the command's process tree by its own pid when the server is stopped first (SIGINT/SIGTERM).</summary>
    public static void Stop(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // It exited between the check and the kill: nothing to stop.
        }
    }
}
