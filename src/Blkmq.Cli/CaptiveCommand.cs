using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Blkmq.Nbd;

namespace Blkmq.Cli;

/// <summary>
/// <c>blkmq serve --run CMD</c> (nbdkit's captive mode): once everything serves, runs CMD with <c>/bin/sh -c</c> and
/// the shell variables <c>$uri</c>, <c>$nbd</c>, <c>$port</c>, <c>$unixsocket</c>, <c>$export</c>, <c>$tls</c>, <c>$file</c>
/// (the FUSE file) and <c>$dev</c> (the ublk device with <c>--ublk</c>, else empty) describing the first export; the server stops when
/// CMD exits and exits with its status. Stopped first (SIGINT, SIGTERM), the server sends CMD and its children SIGTERM,
/// gives them <see cref="GracePeriod"/> to clean up and exit, then kills what is left (<see cref="StopAsync"/>).
/// </summary>
internal static partial class CaptiveCommand
{
    /// <summary>How long CMD has between the SIGTERM of a stopping server and SIGKILL.</summary>
    public static readonly TimeSpan GracePeriod = TimeSpan.FromSeconds(5);

    private const int SigTerm = 15;

    /// <summary>
    /// The variables CMD sees, from the first export: <c>$uri</c> and <c>$nbd</c> name the first listener,
    /// <c>$port</c> the first TCP one and <c>$unixsocket</c> the first Unix one (so <c>--listen unix:- --listen
    /// 127.0.0.1:0</c> sets both), <c>$file</c> its FUSE file. As nbdkit's: with <c>--tls require</c>, <c>$uri</c> is
    /// an <c>nbds://</c> (<c>nbds+unix://</c>) URI, and <c>$tls</c> is 0, 1 or 2 for <c>--tls off</c>, <c>on</c>,
    /// <c>require</c>.
    /// </summary>
    public static Dictionary<string, string> Variables(
        string exportName, IReadOnlyList<EndPoint> endPoints, string? fuseFile, string? device = null, NbdTlsMode tls = NbdTlsMode.Off)
    {
        EndPoint? endPoint = endPoints.Count > 0 ? endPoints[0] : null;
        string uri = endPoint is null ? string.Empty : NbdServer.FormatUri(endPoint, exportName, tls == NbdTlsMode.Require);
        string port = endPoints.OfType<IPEndPoint>().FirstOrDefault() is { } ip ? ip.Port.ToString(CultureInfo.InvariantCulture) : string.Empty;
        string unixSocket = endPoints.OfType<UnixDomainSocketEndPoint>().FirstOrDefault() is { } unix ? unix.ToString() : string.Empty;
        string nbd = endPoint switch
        {
            // qemu's legacy nbd: syntax, as nbdkit's $nbd; an IPv6 address in brackets (nbd:[::1]:PORT), a wildcard as localhost.
            IPEndPoint address => FormattableString.Invariant($"nbd:{Host(address.Address)}:{address.Port}:exportname={exportName}"),
            UnixDomainSocketEndPoint socket => $"nbd:unix:{socket}:exportname={exportName}",
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
            ["tls"] = ((int)tls).ToString(CultureInfo.InvariantCulture),
        };
    }

    /// <summary>A host for a client to connect to: localhost for a wildcard, an IPv6 address in brackets.</summary>
    private static string Host(IPAddress address) =>
        address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) ? "localhost"
        : address.AddressFamily == AddressFamily.InterNetworkV6 ? "[" + address + "]"
        : address.ToString();

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
    /// <exception cref="IOException">The directory cannot be made; one line naming where (<c>$TMPDIR</c>).</exception>
    public static string CreatePrivateSocketDirectory()
    {
        try
        {
            return Directory.CreateTempSubdirectory("blkmq-").FullName;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"--listen unix:-: cannot make a private directory in {Path.GetTempPath()} (TMPDIR): {ex.Message}", ex);
        }
    }

    /// <summary>
    /// Stops the command when the server is stopped first (SIGINT/SIGTERM), by pids, never by name: SIGTERM to every
    /// process of its tree that handles SIGTERM or has no child (a shell that only waits for its command is left to exit
    /// with the command's status, as CMD's own); after a second, SIGTERM to the whole tree; if the shell has not exited
    /// within <see cref="GracePeriod"/>, SIGKILL to the tree.
    /// </summary>
    /// <param name="process">The shell that runs CMD.</param>
    /// <param name="exited">Completes when <paramref name="process"/> has exited.</param>
    public static async Task StopAsync(Process process, Task exited)
    {
        foreach ((int pid, bool hasChildren) in Tree(process.Id))
        {
            if (!hasChildren || HandlesSigTerm(pid))
            {
                // ESRCH: it exited meanwhile; nothing else can fail for our own children.
                _ = Kill(pid, SigTerm);
            }
        }

        TimeSpan first = TimeSpan.FromSeconds(1);
        if (await Task.WhenAny(exited, Task.Delay(first)).ConfigureAwait(false) == exited)
        {
            return;
        }

        foreach ((int pid, bool _) in Tree(process.Id))
        {
            _ = Kill(pid, SigTerm);
        }

        if (await Task.WhenAny(exited, Task.Delay(GracePeriod - first)).ConfigureAwait(false) == exited)
        {
            return;
        }

        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // It exited between the wait and the kill: nothing to stop.
        }
    }

    /// <summary>Whether a process catches SIGTERM (the <c>SigCgt</c> mask of <c>/proc/PID/status</c>): a trap, a handler.</summary>
    private static bool HandlesSigTerm(int pid)
    {
        try
        {
            foreach (string line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("SigCgt:", StringComparison.Ordinal))
                {
                    return ulong.TryParse(line.AsSpan("SigCgt:".Length).Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong mask)
                        && (mask & (1UL << (SigTerm - 1))) != 0;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // It exited.
        }

        return false;
    }

    /// <summary>A process and its descendants (from <c>/proc/PID/task/TID/children</c>), parents first, each with whether it has children.</summary>
    private static List<(int Pid, bool HasChildren)> Tree(int root)
    {
        var pids = new List<(int Pid, bool HasChildren)> { (root, false) };
        for (int i = 0; i < pids.Count; i++)
        {
            string[] tasks;
            try
            {
                tasks = Directory.GetDirectories($"/proc/{pids[i].Pid}/task");
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                continue; // It exited: so did its threads.
            }

            foreach (string task in tasks)
            {
                string children;
                try
                {
                    children = File.ReadAllText(Path.Combine(task, "children"));
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    continue;
                }

                foreach (string child in children.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                {
                    if (int.TryParse(child, NumberStyles.None, CultureInfo.InvariantCulture, out int pid) && !pids.Exists(p => p.Pid == pid))
                    {
                        pids[i] = (pids[i].Pid, true);
                        pids.Add((pid, false));
                    }
                }
            }
        }

        return pids;
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
