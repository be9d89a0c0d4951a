using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;

namespace Blkmq.Cli;

/// <summary>
/// Listens on a Unix domain socket and answers commands (the null driver's <c>ControlProtocol</c>, or any other
/// line-oriented one), one reply line per command
/// line, any number of commands per connection and connections at once. The socket file is made owner-only (its
/// commands power disks off) and is removed by <see cref="StopAsync"/>.
/// </summary>
/// <remarks>Lifecycle: <see cref="Start"/> once, then <see cref="StopAsync"/> (or <see cref="DisposeAsync"/>).</remarks>
internal sealed class ControlServer : IAsyncDisposable
{
    /// <summary>The longest command line accepted; a longer one closes the connection.</summary>
    public const int MaxLineLength = 4096;

    private static readonly UTF8Encoding s_utf8 = new(encoderShouldEmitUTF8Identifier: false);

    private readonly Func<string, ValueTask<string>> _execute;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<Socket, Task> _connections = new();
    private Socket? _listener;
    private Task? _acceptLoop;
    private bool _bound;
    private int _stopped;

    /// <summary>Initializes a new instance of the <see cref="ControlServer"/> class; nothing listens until <see cref="Start"/>.</summary>
    /// <param name="path">The socket file's path.</param>
    /// <param name="execute">
    /// Runs one command line (without its newline) and returns the reply line; must not throw for a bad command
    /// (as <c>ControlProtocol.ExecuteAsync</c>, which replies <c>error ...</c>). Called concurrently for several connections.
    /// </param>
    public ControlServer(string path, Func<string, ValueTask<string>> execute)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(execute);
        Path = System.IO.Path.GetFullPath(path);
        _execute = execute;
    }

    /// <summary>Gets the socket file's full path.</summary>
    public string Path { get; }

    /// <summary>Binds the socket (replacing a stale socket file nobody listens on) and starts accepting.</summary>
    /// <exception cref="IOException">Another process listens on the path, or a non-socket file is there.</exception>
    /// <exception cref="SocketException">The socket cannot be bound.</exception>
    public void Start()
    {
        RemoveStaleSocket();
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(Path));
            _bound = true;
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(Path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }

            listener.Listen(16);
        }
        catch
        {
            listener.Dispose();
            RemoveSocketFile();
            throw;
        }

        _listener = listener;
        _acceptLoop = AcceptLoopAsync(listener);
    }

    /// <summary>Stops accepting, closes every connection, waits for their commands to end and removes the socket file.</summary>
    /// <returns>A task that completes when all of that is done.</returns>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener?.Dispose();
        if (_acceptLoop is not null)
        {
            await _acceptLoop.ConfigureAwait(false);
        }

        foreach (Socket socket in _connections.Keys)
        {
            socket.Dispose();
        }

        await Task.WhenAll(_connections.Values).ConfigureAwait(false);
        RemoveSocketFile();
        _stopping.Dispose();
    }

    /// <inheritdoc/>
    public ValueTask DisposeAsync() => new(StopAsync());

    private void RemoveStaleSocket()
    {
        bool free;
        SocketException? notASocket;
        try
        {
            free = Blkmq.Nbd.UnixSocketPath.TryRemoveStale(Path, out notASocket);
        }
        catch (SocketException ex)
        {
            notASocket = ex;
            free = false;
        }

        if (!free)
        {
            throw notASocket is null
                ? new IOException($"{Path}: another server listens there.")
                : new IOException($"{Path} exists and is not a stale socket: {notASocket.Message}", notASocket);
        }
    }

    private void RemoveSocketFile()
    {
        if (_bound)
        {
            File.Delete(Path);
            _bound = false;
        }
    }

    private async Task AcceptLoopAsync(Socket listener)
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                // Stopping (or the listener failed): no more connections.
                return;
            }

            _connections[client] = ServeAsync(client);
        }
    }

    private async Task ServeAsync(Socket client)
    {
        await Task.Yield();
        try
        {
            using var stream = new NetworkStream(client, ownsSocket: true);
            using var reader = new StreamReader(stream, s_utf8, detectEncodingFromByteOrderMarks: false, bufferSize: 1024);
            var writer = new StreamWriter(stream, s_utf8, bufferSize: 1024) { NewLine = "\n", AutoFlush = true };
            await using ConfiguredAsyncDisposable writerScope = writer.ConfigureAwait(false);
            while (await reader.ReadLineAsync(_stopping.Token).ConfigureAwait(false) is { } line)
            {
                if (line.Length > MaxLineLength)
                {
                    await writer.WriteLineAsync("error command line too long".AsMemory(), _stopping.Token).ConfigureAwait(false);
                    return;
                }

                string reply = await _execute(line).ConfigureAwait(false);
                await writer.WriteLineAsync(reply.AsMemory(), _stopping.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The client went away or the server is stopping: this connection ends, the others go on.
        }
        finally
        {
            client.Dispose();
            _connections.TryRemove(client, out _);
        }
    }
}
