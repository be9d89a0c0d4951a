using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Blkmq.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Blkmq.Nbd;

/// <summary>
/// An NBD server (the protocol of NetworkBlockDevice <c>doc/proto.md</c>, fixed newstyle, with structured replies,
/// extended headers, <c>base:allocation</c> and STARTTLS) serving Blkmq disks to unmodified clients: qemu, libnbd's
/// nbdinfo / nbdcopy / nbdsh, fio's nbd engine, the Linux nbd client. IO goes through each disk's in-process
/// <see cref="BlockDevice"/>; requests on one connection run concurrently and are answered in completion order.
/// </summary>
/// <remarks>
/// Lifecycle: <see cref="StartAsync"/> once, then <see cref="StopAsync"/> (or <see cref="DisposeAsync"/>). The disks stay
/// the caller's: remove them after the server stopped.
/// </remarks>
public sealed class NbdServer : IAsyncDisposable
{
    private readonly Dictionary<string, int> _exportIndex = new(StringComparer.Ordinal);
    private readonly NbdExportEntry[] _exportList;
    private readonly List<Socket> _listeners = [];
    private readonly List<EndPoint> _endPoints = [];
    private readonly List<string> _unixPaths = [];
    private readonly List<Task> _acceptLoops = [];
    private readonly ConcurrentDictionary<long, (NbdConnection Connection, Task Task)> _connections = new();
    private readonly CancellationTokenSource _stopping = new();
    private int _transmitting;
    private readonly Lock _stateLock = new();
    private X509Certificate2? _certificate;
    private long _nextConnectionId;
    private int _state;

    /// <summary>Initializes a new instance of the <see cref="NbdServer"/> class; nothing listens until <see cref="StartAsync"/>.</summary>
    /// <param name="options">The exports, listeners and limits.</param>
    /// <exception cref="ArgumentException">An option is invalid.</exception>
    public NbdServer(NbdServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        Logger = (options.LoggerFactory ?? NullLoggerFactory.Instance).CreateLogger<NbdServer>();
        _exportList = [.. options.Exports.Select(static export => new NbdExportEntry(export))];
        for (int i = 0; i < _exportList.Length; i++)
        {
            _exportIndex.Add(_exportList[i].Name, i);
        }
    }

    /// <summary>Gets the options.</summary>
    public NbdServerOptions Options { get; }

    /// <summary>Gets the endpoints actually listened on (with the ports chosen for port 0), in the order of the options.</summary>
    public IReadOnlyList<EndPoint> EndPoints => _endPoints;

    /// <summary>Gets how many client connections are open.</summary>
    public int ConnectionCount => _connections.Count;

    /// <summary>Gets the server's front-end counters (<c>frontend=nbd</c> on <see cref="BlkmqMeter"/>): connections, requests, bytes.</summary>
    public FrontendCounters Counters { get; } = new("nbd");

    internal ILogger Logger { get; }

    /// <summary>Gets the threads listeners and connections (a reader and a writer each) run on, parked between connections.</summary>
    internal ThreadCache Threads { get; } = new("nbd", maxParked: 16, stackSize: NbdConnection.ThreadStackSize);

    internal IReadOnlyList<NbdExportEntry> ExportList => _exportList;

    internal SslStreamCertificateContext? CertificateContext { get; private set; }

    /// <summary>Gets the open connections (for tests: their in-flight and buffered-bytes counters).</summary>
    internal IEnumerable<NbdConnection> Connections => _connections.Values.Select(static c => c.Connection);

    /// <summary>Formats the NBD URI of an export on an endpoint (<c>nbd://HOST:PORT/NAME</c>, <c>nbd+unix:///NAME?socket=PATH</c>).</summary>
    /// <param name="endPoint">A bound endpoint from <see cref="EndPoints"/>.</param>
    /// <param name="exportName">The export name.</param>
    /// <param name="tls">Whether to use the TLS schemes (<c>nbds</c>, <c>nbds+unix</c>).</param>
    /// <returns>The URI text.</returns>
    public static string FormatUri(EndPoint endPoint, string exportName, bool tls = false)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        ArgumentNullException.ThrowIfNull(exportName);
        string name = Uri.EscapeDataString(exportName);
        string scheme = tls ? "nbds" : "nbd";
        return endPoint switch
        {
            // A wildcard address is where the server listens, not one a client can connect to (nbdkit prints localhost too).
            IPEndPoint ip when ip.Address.Equals(IPAddress.Any) || ip.Address.Equals(IPAddress.IPv6Any) => FormattableString.Invariant($"{scheme}://localhost:{ip.Port}/{name}"),
            IPEndPoint ip when ip.AddressFamily == AddressFamily.InterNetworkV6 => FormattableString.Invariant($"{scheme}://[{ip.Address}]:{ip.Port}/{name}"),
            IPEndPoint ip => FormattableString.Invariant($"{scheme}://{ip.Address}:{ip.Port}/{name}"),
            UnixDomainSocketEndPoint unix => $"{scheme}+unix:///{name}?socket={Uri.EscapeDataString(unix.ToString()).Replace("%2F", "/", StringComparison.Ordinal)}",
            _ => throw new ArgumentException($"Unsupported endpoint type {endPoint.GetType().Name}.", nameof(endPoint)),
        };
    }

    /// <summary>Binds and starts listening on every endpoint; returns when all listen.</summary>
    /// <param name="cancellationToken">Unused beyond an early check; binding is synchronous.</param>
    /// <returns>A task that completes when the server accepts connections.</returns>
    /// <exception cref="InvalidOperationException">The server was already started.</exception>
    /// <exception cref="IOException">An endpoint could not be bound (the message names it; the inner exception is the
    /// <see cref="SocketException"/>); nothing stays bound.</exception>
    public Task StartAsync(CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        lock (_stateLock)
        {
            if (_state != 0)
            {
                throw new InvalidOperationException("The server was already started.");
            }

            _state = 1;
        }

        try
        {
            if (Options.TlsMode != NbdTlsMode.Off)
            {
                try
                {
                    _certificate = Options.TlsKeyFile is null
                        ? X509Certificate2.CreateFromPemFile(Options.TlsCertificateFile!)
                        : X509Certificate2.CreateFromPemFile(Options.TlsCertificateFile!, Options.TlsKeyFile);
                }
                catch (Exception e) when (e is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
                {
                    // The runtime's messages name neither file ("The key contents do not contain a PEM ...").
                    string files = Options.TlsKeyFile is null
                        ? $"TLS certificate {Options.TlsCertificateFile} (certificate and key in one PEM file)"
                        : $"TLS certificate {Options.TlsCertificateFile} with key {Options.TlsKeyFile}";
                    throw new IOException($"{files}: {e.Message.Split('\n')[0]}", e);
                }

                CertificateContext = SslStreamCertificateContext.Create(_certificate, additionalCertificates: null, offline: true);
            }

            foreach (EndPoint endPoint in Options.Listeners)
            {
                Socket socket;
                try
                {
                    socket = Bind(endPoint);
                }
                catch (SocketException e)
                {
                    // The runtime's message ("Cannot assign requested address") does not say which listener failed,
                    // nor, for a Unix socket, that its directory is missing.
                    string why = endPoint is UnixDomainSocketEndPoint unix && Path.GetDirectoryName(unix.ToString()) is { Length: > 0 } directory && !Directory.Exists(directory)
                        ? $"the directory {directory} does not exist"
                        : e.Message;
                    throw new IOException($"cannot listen on {Describe(endPoint)}: {why}", e);
                }

                _listeners.Add(socket);
                _endPoints.Add(socket.LocalEndPoint is IPEndPoint bound ? bound : endPoint);
            }
        }
        catch
        {
            // Leave nothing bound when one endpoint fails.
            foreach (Socket socket in _listeners)
            {
                socket.Dispose();
            }

            _listeners.Clear();
            _endPoints.Clear();
            DeleteUnixPaths();
            throw;
        }

        for (int i = 0; i < _listeners.Count; i++)
        {
            NbdLog.Listening(Logger, _endPoints[i]);
            Socket listener = _listeners[i];
            EndPoint endPoint = _endPoints[i];
            _acceptLoops.Add(StartAcceptThread(listener, endPoint));
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// Stops the server: closes the listeners, stops reading new requests, lets in-flight requests finish and their
    /// replies go out, and closes every connection. Connections still busy when <paramref name="cancellationToken"/>
    /// fires (or after 10 s when it cannot fire) are aborted; their requests still end before this completes.
    /// </summary>
    /// <param name="cancellationToken">Ends the graceful wait.</param>
    /// <returns>A task that completes when every connection is closed.</returns>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        lock (_stateLock)
        {
            if (_state != 1)
            {
                _state = 2;
                return;
            }

            _state = 2;
        }

        NbdLog.Stopping(Logger, _connections.Count);
        await _stopping.CancelAsync().ConfigureAwait(false);
        foreach (Socket listener in _listeners)
        {
            listener.Dispose();
        }

        await Task.WhenAll(_acceptLoops).ConfigureAwait(false);
        foreach ((NbdConnection connection, Task _) in _connections.Values)
        {
            connection.Stop();
        }

        Task all = Task.WhenAll(_connections.Values.Select(static c => c.Task));
        using (var grace = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            if (!cancellationToken.CanBeCanceled)
            {
                grace.CancelAfter(TimeSpan.FromSeconds(10));
            }

            try
            {
                await all.WaitAsync(grace.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                NbdLog.StopAborted(Logger, _connections.Count);
                foreach ((NbdConnection connection, Task _) in _connections.Values)
                {
                    connection.Abort();
                }

                await all.ConfigureAwait(false);
            }
        }

        DeleteUnixPaths();
        _certificate?.Dispose();
        Threads.Dispose();
        NbdLog.Stopped(Logger);
    }

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stopping.Dispose();
        Counters.Dispose();
    }

    /// <summary>Gets how many connections are past the handshake.</summary>
    internal int TransmittingConnections => Volatile.Read(ref _transmitting);

    internal void OnTransmissionStarted() => Interlocked.Increment(ref _transmitting);

    internal void OnTransmissionEnded() => Interlocked.Decrement(ref _transmitting);

    /// <summary>Called on a connection's thread as it ends, before its <see cref="NbdConnection.Completion"/> completes.</summary>
    internal void OnConnectionEnded(NbdConnection connection) => _connections.TryRemove(connection.Id, out _);

    /// <summary>
    /// Serves another disk under an export's name from now on, as a null_blk device powered off and on again comes
    /// back as a new disk. Connections that chose the export before keep the disk they started with (its IO fails once
    /// that disk is removed); clients that connect afterwards get <paramref name="disk"/>.
    /// </summary>
    /// <param name="exportName">The export's name.</param>
    /// <param name="disk">The disk to serve; the server does not own it.</param>
    /// <exception cref="ArgumentException">No export has that name.</exception>
    public void ReplaceDisk(string exportName, Disk disk)
    {
        ArgumentNullException.ThrowIfNull(exportName);
        ArgumentNullException.ThrowIfNull(disk);
        if (!_exportIndex.TryGetValue(exportName, out int index))
        {
            throw new ArgumentException($"No export is named '{exportName}'.", nameof(exportName));
        }

        _exportList[index].Export.ReplaceDisk(disk);
    }

    internal NbdExportEntry? FindExport(string name)
    {
        if (!_exportIndex.TryGetValue(name, out int index))
        {
            if (name.Length != 0)
            {
                return null;
            }

            index = 0; // The empty name is the default export: one named "" if there is one, else the first.
        }

        // The entry of the export's current disk: made once after each power cycle, by the first client to ask.
        NbdExportEntry entry = Volatile.Read(ref _exportList[index]);
        if (entry.IsStale)
        {
            entry = entry.Refresh();
            Volatile.Write(ref _exportList[index], entry);
        }

        return entry;
    }

    private static string Describe(EndPoint endPoint) => endPoint is UnixDomainSocketEndPoint unix ? "unix:" + unix : endPoint.ToString() ?? "?";

    private Socket Bind(EndPoint endPoint)
    {
        Socket socket;
        if (endPoint is UnixDomainSocketEndPoint unix)
        {
            if (!UnixSocketPath.TryRemoveStale(unix.ToString(), out _))
            {
                // A server listens there (maybe this one, when a path is given twice), or it is some other file.
                throw new SocketException((int)SocketError.AddressAlreadyInUse);
            }

            socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        }
        else
        {
            socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            if (endPoint.AddressFamily == AddressFamily.InterNetworkV6)
            {
                // [::] is every address, IPv4 ones too (so the localhost URI printed for it works whichever address
                // localhost resolves to); any other IPv6 address is only itself.
                socket.DualMode = endPoint is IPEndPoint { Address: var address } && address.Equals(IPAddress.IPv6Any);
            }
        }

        try
        {
            socket.Bind(endPoint);
            if (endPoint is UnixDomainSocketEndPoint bound)
            {
                // Ours from here on: removed when the server stops (or when a later listener fails).
                _unixPaths.Add(bound.ToString());
            }

            socket.Listen(512);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return socket;
    }

    private void DeleteUnixPaths()
    {
        foreach (string path in _unixPaths)
        {
            try
            {
                File.Delete(path);
            }
            catch (IOException)
            {
                // Best effort: the path is left behind.
            }
            catch (UnauthorizedAccessException)
            {
                // Best effort: the path is left behind.
            }
        }

        _unixPaths.Clear();
    }

    /// <summary>
    /// Accepts on a thread of its own with blocking calls, as each connection runs: the kernel wakes it directly when
    /// a client connects, and it starts the connection's thread itself, with no thread-pool worker to wake in
    /// between (a client that opens four connections, as nbdcopy does, would wait for that four times).
    /// </summary>
    private Task StartAcceptThread(Socket listener, EndPoint endPoint)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Threads.Run(
            _ =>
            {
                try
                {
                    AcceptLoop(listener, endPoint);
                }
                finally
                {
                    done.SetResult();
                }
            },
            null);
        return done.Task;
    }

    private void AcceptLoop(Socket listener, EndPoint endPoint)
    {
        CancellationToken stopping = _stopping.Token;
        while (!stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = listener.Accept();
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException) when (stopping.IsCancellationRequested)
            {
                // StopAsync disposed the listener, which ends a blocked accept.
                return;
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionAborted or SocketError.ConnectionReset or SocketError.TooManyOpenSockets)
            {
                // The client left before accept finished, or descriptors ran out for a moment: keep accepting.
                if (e.SocketErrorCode == SocketError.TooManyOpenSockets)
                {
                    Thread.Sleep(10);
                }

                continue;
            }
            catch (SocketException e)
            {
                NbdLog.AcceptFailed(Logger, e, endPoint);
                return;
            }

            if (_connections.Count >= Options.MaxConnections)
            {
                NbdLog.ConnectionRefused(Logger, client.RemoteEndPoint, Options.MaxConnections);
                client.Dispose();
                continue;
            }

            if (client.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6)
            {
                client.NoDelay = true;
            }

            long id = Interlocked.Increment(ref _nextConnectionId);
            NbdLog.ConnectionAccepted(Logger, id, client.RemoteEndPoint ?? endPoint);
            var connection = new NbdConnection(this, client, id, stopping);
            _connections[id] = (connection, connection.Completion);
            connection.Start();
        }
    }
}
