using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.IO;
using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Blkmq.Metrics;
using Microsoft.Extensions.Logging;

namespace Blkmq.Nbd;

/// <summary>
/// One client connection of an <see cref="NbdServer"/>: the fixed-newstyle handshake, then the transmission phase
/// with one reader (parses requests, reads payloads into pooled buffers, starts IO without waiting for it), the IO
/// completing in any order, and replies batched into a write buffer so several go out per send. The number of
/// requests and payload bytes held per connection is bounded: when the bound is reached the reader stops reading
/// until replies have been sent, so a client that never reads its replies cannot make the server buffer without limit.
/// </summary>
/// <remarks>
/// <para>
/// A connection runs on its own threads with blocking socket calls, as nbdkit's do: the connection thread does the
/// handshake and then reads requests; a writer thread sends the replies of requests that completed on other threads.
/// A request that completes inline (a memory or null disk) is answered by the reader itself just before it blocks for
/// more input, so at any depth a batch of requests costs one receive and one send and no thread hand-off. The
/// asynchronous socket engine would add two (its epoll thread, then a thread-pool worker) to every wait for input,
/// which on a small machine costs more than the IO itself.
/// </para>
/// <para>
/// Blocking calls are ended by shutting the socket down: a server stop shuts down receiving (in-flight requests
/// still finish and are answered), a failed write or an abort shuts down both directions.
/// </para>
/// </remarks>
internal sealed partial class NbdConnection : IDisposable
{
    private const int ReadBufferSize = 128 * 1024;

    /// <summary>
    /// A write payload at least this large is read straight into its request's buffer, and so is the next one's:
    /// after such a write the reader receives only the next header, instead of filling its input buffer with part of
    /// the next payload that would then be copied once more.
    /// </summary>
    private const int DirectPayloadThreshold = 64 * 1024;

    /// <summary>
    /// On a Unix socket, a write at least this large may start its IO from a thread-pool thread, not the reader's (see
    /// <see cref="_largeWritesOffReader"/>).
    /// </summary>
    private const int OffReaderWriteBytes = 512 * 1024;
    private const int WriteBufferSize = 256 * 1024;

    /// <summary>Stack of a connection's threads: the loops keep nothing large on the stack.</summary>
    internal const int ThreadStackSize = 256 * 1024;

    private const int HandshakeRunning = 0;
    private const int HandshakeOver = 1;
    private const int HandshakeTimedOut = 2;

    /// <summary>The connection whose reader is inside <see cref="NbdRequest.Execute"/> on this thread, if any.</summary>
    [ThreadStatic]
    private static NbdConnection? t_executing;

    private readonly NbdServer _server;
    private readonly Socket _socket;

    /// <summary>
    /// Whether writes of <see cref="OffReaderWriteBytes"/> or more start their IO off the reader: on Unix sockets, while
    /// the connections are few enough that each reader and its client can have a CPU (<see cref="HasSpareCpu"/>).
    /// </summary>
    /// <remarks>
    /// The reader is the only thread that drains the client's socket, and a driver that copies the payload as it
    /// submits (a memory disk, the cow overlay, a buffered file) holds it for ~0.1 ms per MiB. On a Unix socket the
    /// client may queue only its send buffer (~200 KiB by default; the server cannot enlarge it), so the client stalled
    /// behind every such copy: NBD 1 MiB sequential writes at QD32 over a Unix socket ran at 0.6-0.7x nbdkit's cow,
    /// whose worker threads take turns at the socket. Started from the thread pool, the IO runs on the other CPU while
    /// the reader receives the next payload: 1.4x (cow, memory overlay), 1.5x (cow, overlay file) and 1.8x (file
    /// driver, O_DIRECT) the inline rate, same run. Not on TCP, whose autotuned buffers take several MiB: there the
    /// hop cost file-backed disks a fifth and more. Not with more connections than that: their readers drain the
    /// sockets in parallel already, and the hand-offs only competed with them (nbdcopy, 4 connections of 256 KiB
    /// writes into a memory disk over a Unix socket, alternating runs: 1.5-2.0 GB/s handed off, 2.3-2.8 GB/s inline).
    /// Not below 512 KiB: at 64K and 128K the hand-off cost more than it saved, 256K came out even at best.
    /// </remarks>
    private readonly bool _largeWritesOffReader;

    // The socket's descriptor, for the busy-polling receive; the socket stays open until the connection's threads end.
    private readonly int _socketFd;

    // Replies queued before the reader sends them rather than take more requests first (TryReceiveBeforeReplies).
    private const int ReplyBatch = 16;

    // Early receives skipped after one that found nothing.
    private const int EarlyReceiveBackoff = 8;
    private int _earlyReceiveSkips;
    private readonly ILogger _logger;
    private readonly NetworkStream _networkStream;
    private readonly byte[] _readBuffer = ArrayPool<byte>.Shared.Rent(ReadBufferSize);
    private readonly CancellationToken _serverStopping;
    private readonly long _busyPollTicks;
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _disposed;
    private bool _greetingFailed;

    /// <summary>Whether the last request carried a large write payload (see <see cref="DirectPayloadThreshold"/>).</summary>
    private bool _largeWrites;
    private readonly Lock _lock = new();
    private readonly Stack<NbdRequest> _free = new();
    private readonly ThreadSignal _capacityFreed = new();
    private readonly ThreadSignal _repliesReady = new();
    private readonly ThreadSignal _idle = new();
    private readonly ThreadSignal _writerDone = new();
    private readonly int _maxInFlight;
    private readonly long _maxBufferedBytes;
    private Stream _stream;
    private SslStream? _sslStream;
    private int _readStart;
    private int _readEnd;

    // Reply queue: a ring sized to the in-flight bound, so it never overflows. Guarded by _lock.
    private NbdRequest[] _replyRing = [];
    private int _replyHead;
    private int _replyCount;
    private long _queuedReplyBytes;
    private bool _replyClosed;
    private bool _readerWaiting;
    private bool _readerDone;
    private int _inFlight;
    private long _bufferedBytes;
    private long _peakBufferedBytes;
    private volatile bool _writeFailed;
    private volatile bool _stopping;
    private int _aborted;
    private int _handshakeState;

    // Requests and bytes, written only by the reading thread (Dispatch); retired when the connection ends.
    private readonly FrontendCounterShard _counters;

    public NbdConnection(NbdServer server, Socket socket, long id, CancellationToken serverStopping)
    {
        _server = server;
        _socket = socket;
        _socketFd = NonBlockingSocket.IsSupported ? (int)socket.Handle : -1;
        _largeWritesOffReader = socket.AddressFamily == AddressFamily.Unix;
        Id = id;
        _logger = server.Logger;
        _networkStream = new NetworkStream(socket, ownsSocket: true);
        _stream = _networkStream;
        _maxInFlight = server.Options.MaxInFlightPerConnection;
        _maxBufferedBytes = server.Options.MaxBufferedBytesPerConnection;
        _serverStopping = serverStopping;
        _busyPollTicks = (long)(server.Options.BusyPoll.TotalSeconds * Stopwatch.Frequency);
        _counters = server.Counters.OpenConnection();
    }

    /// <summary>Gets the connection's number, for logs.</summary>
    public long Id { get; }

    /// <summary>Gets the export chosen with <c>NBD_OPT_GO</c> / <c>NBD_OPT_EXPORT_NAME</c>; null during the handshake.</summary>
    public NbdExportEntry? Export { get; private set; }

    /// <summary>Gets the most payload bytes this connection has held at once.</summary>
    public long PeakBufferedBytes => Volatile.Read(ref _peakBufferedBytes);

    /// <summary>Gets the payload bytes held now.</summary>
    public long BufferedBytes => Volatile.Read(ref _bufferedBytes);

    /// <summary>Gets the requests held now (received, reply not yet sent).</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>Describes the connection's state, for diagnostics when it does not end.</summary>
    /// <returns>One line of counters and flags.</returns>
    public string DescribeState()
    {
        lock (_lock)
        {
            return FormattableString.Invariant(
                $"connection {Id}: export={Export?.Name ?? "(handshake)"} inFlight={_inFlight} bufferedBytes={_bufferedBytes} queuedReplies={_replyCount} writerBusy={Volatile.Read(ref _writerBusy)} readerWaiting={_readerWaiting} readerDone={_readerDone} repliesClosed={_replyClosed} writeFailed={_writeFailed} stopping={_stopping} aborted={_aborted}");
        }
    }

    /// <summary>Gets a task that completes when the connection is closed and every request it started has ended.</summary>
    public Task Completion => _done.Task;

    /// <summary>
    /// Runs the connection to its end on its own thread; never throws. When it ends, the server forgets it
    /// (<see cref="NbdServer.OnConnectionEnded"/>) before <see cref="Completion"/> completes.
    /// </summary>
    public void Start()
    {
        // The greeting goes out from the accepting thread, so the client's round trip overlaps this thread's start.
        try
        {
            _socket.Send(s_greeting);
        }
        catch (SocketException)
        {
            _greetingFailed = true;
        }

        try
        {
            _server.Threads.Run(
                static state =>
                {
                    var connection = (NbdConnection)state!;
                    connection.Run();
                    connection.End();
                },
                this);
        }
        catch (OutOfMemoryException e)
        {
            // No thread to be had (a thread limit): refuse this client, keep serving the others.
            NbdLog.ConnectionFailed(_logger, e, Id);
            Dispose();
            End();
        }
    }

    private void End()
    {
        _counters.Dispose();
        _server.OnConnectionEnded(this);
        _done.SetResult();
    }

    private void Run()
    {
        string reason = "closed";
        using CancellationTokenRegistration stopping = _serverStopping.UnsafeRegister(static state => ((NbdConnection)state!).Stop(), this);
        try
        {
            bool transmit;
            using (new Timer(static state => ((NbdConnection)state!).OnHandshakeTimeout(), this, _server.Options.HandshakeTimeout, Timeout.InfiniteTimeSpan))
            {
                transmit = Handshake();
            }

            // The timer may have fired just as the handshake ended: then the socket is shut down, so do not transmit.
            transmit &= Interlocked.CompareExchange(ref _handshakeState, HandshakeOver, HandshakeRunning) == HandshakeRunning;
            if (transmit)
            {
                reason = Transmit();
            }
            else
            {
                reason = _stopping ? "server stopping" : "handshake ended";
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            if (!_stopping)
            {
                NbdLog.ClientGone(_logger, Id, "handshake");
            }

            reason = _stopping ? "server stopping" : "connection error during handshake";
        }
        catch (Exception e) when (e is System.Security.Authentication.AuthenticationException)
        {
            NbdLog.TlsHandshakeFailed(_logger, e, Id);
            reason = "TLS failed";
        }
#pragma warning disable CA1031 // A connection lets no exception escape: one bad connection must not stop the server.
        catch (Exception e)
#pragma warning restore CA1031
        {
            NbdLog.ConnectionFailed(_logger, e, Id);
            reason = "failed";
        }
        finally
        {
            if (Interlocked.Exchange(ref _handshakeState, HandshakeOver) == HandshakeTimedOut)
            {
                NbdLog.HandshakeTimedOut(_logger, Id, _server.Options.HandshakeTimeout);
                reason = "handshake timeout";
            }

            Close();
            NbdLog.ConnectionClosed(_logger, Export is null ? LogLevel.Debug : LogLevel.Information, Id, reason);
        }
    }

    /// <summary>Stops reading new requests; in-flight ones finish and their replies are sent.</summary>
    public void Stop()
    {
        _stopping = true;
        _capacityFreed.Set();

        // Wakes a reader blocked in a receive: it sees the end of the stream and then _stopping.
        ShutdownSocket(SocketShutdown.Receive);
    }

    /// <summary>Closes the connection at once: pending sends fail and queued replies are dropped (requests still end).</summary>
    public void Abort()
    {
        if (Interlocked.Exchange(ref _aborted, 1) != 0)
        {
            return;
        }

        _stopping = true;
        _writeFailed = true;
        ShutdownSocket(SocketShutdown.Both);
        _capacityFreed.Set();
        _repliesReady.Set();
    }

    /// <summary>Called by a request when its IO has ended (on any thread): queues its reply for the writer.</summary>
    /// <param name="request">The finished request; owned by the writer from now on.</param>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void OnRequestCompleted(NbdRequest request)
    {
        bool wake;
        lock (_lock)
        {
            if (_replyClosed)
            {
                wake = false;
            }
            else
            {
                _replyRing[(_replyHead + _replyCount) % _replyRing.Length] = request;
                wake = _replyCount++ == 0;
                _queuedReplyBytes += request.BufferLength;
                request = null!;
            }
        }

        if (request is not null)
        {
            // The writer is gone (cannot happen while requests are in flight; kept for safety): just release it.
            Release(request);
        }
        else if (wake && t_executing != this && !TrySendFromCompleter())
        {
            // Completed on another thread, and not sent from it: wake the writer. A completion inline in the reader's
            // Execute needs no wake-up (and no thread hop): the reader sends it itself before it waits for anything.
            _repliesReady.Set();
        }
    }

    /// <summary>Called by the handshake timer: a client still negotiating is cut off.</summary>
    private void OnHandshakeTimeout()
    {
        if (Interlocked.CompareExchange(ref _handshakeState, HandshakeTimedOut, HandshakeRunning) == HandshakeRunning)
        {
            ShutdownSocket(SocketShutdown.Both);
        }
    }

    /// <summary>Shuts the socket down in one or both directions, waking a thread blocked on it; never throws.</summary>
    private void ShutdownSocket(SocketShutdown how)
    {
        try
        {
            _socket.Shutdown(how);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Already closed by the peer or by us.
        }
    }

    private void Close()
    {
        if (_sslStream is not null && Volatile.Read(ref _aborted) == 0 && !_writeFailed)
        {
            try
            {
                // SslStream has no synchronous close_notify; the socket is finished with, so waiting here is harmless.
                _ = _sslStream.ShutdownAsync().Wait(TimeSpan.FromSeconds(1));
            }
            catch (AggregateException)
            {
                // Best effort: the peer may already be gone.
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or InvalidOperationException)
            {
                // Best effort: the peer may already be gone.
            }
        }

        ShutdownSocket(SocketShutdown.Both);
        Dispose();
    }

    /// <summary>Releases the socket and streams; the connection must have ended (<see cref="Start"/>'s thread does this).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // Nothing reads or writes them any more: the connection's threads have ended.
        ArrayPool<byte>.Shared.Return(_readBuffer);
        ArrayPool<byte>.Shared.Return(_writeBuffer);
        _sslStream?.Dispose();
        _networkStream.Dispose();
        _socket.Dispose();
        _capacityFreed.Dispose();
        _writerDone.Dispose();
        _repliesReady.Dispose();
        _idle.Dispose();
    }

    /// <summary>Takes a request from the pool, waiting while the connection holds too many requests or bytes.</summary>
    /// <returns>A request, or null when the connection is stopping.</returns>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private NbdRequest? Acquire(long budgetBytes)
    {
        while (true)
        {
            bool repliesQueued;
            lock (_lock)
            {
                if (_stopping)
                {
                    return null;
                }

                if (_inFlight < _maxInFlight && (_inFlight == 0 || _bufferedBytes + budgetBytes <= _maxBufferedBytes))
                {
                    _inFlight++;
                    _bufferedBytes += budgetBytes;
                    if (_bufferedBytes > _peakBufferedBytes)
                    {
                        _peakBufferedBytes = _bufferedBytes;
                    }

                    NbdRequest request = _free.Count > 0 ? _free.Pop() : new NbdRequest(this);
                    request.BudgetBytes = budgetBytes;
                    return request;
                }

                _readerWaiting = true;
                repliesQueued = _replyCount != 0;
            }

            if (repliesQueued)
            {
                // Replies the reader queued inline are what frees capacity: make sure the writer sends them. (A reply
                // queued after this came from another thread, which sends it or wakes the writer itself.)
                _repliesReady.Set();
            }

            _capacityFreed.Wait();
        }
    }

    /// <summary>Returns a request to the pool after its reply was sent (or dropped).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Release(NbdRequest request)
    {
        long budget = request.BudgetBytes;
        request.Reset();
        bool wakeReader;
        bool idle;
        lock (_lock)
        {
            _free.Push(request);
            _inFlight--;
            _bufferedBytes -= budget;
            wakeReader = _readerWaiting;
            _readerWaiting = false;
            idle = _inFlight == 0 && _readerDone;
        }

        if (wakeReader)
        {
            _capacityFreed.Set();
        }

        if (idle)
        {
            _idle.Set();
        }
    }

    private int Buffered
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => _readEnd - _readStart;
    }

    /// <summary>Reads until at least <paramref name="count"/> bytes are buffered.</summary>
    /// <returns>False when the stream ended first.</returns>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private bool Fill(int count)
    {
        MakeRoom(count);
        while (Buffered < count)
        {
            // While large writes arrive, take only the header: the payload after it goes straight to its request.
            int room = _largeWrites ? count - Buffered : _readBuffer.Length - _readEnd;
            int read = Export is not null && BusyPolls ? ReceiveBusyPolling(room) : _stream.Read(_readBuffer, _readEnd, room);
            if (read == 0)
            {
                return false;
            }

            _readEnd += read;
        }

        return true;
    }

    /// <summary>
    /// Receives what the client has sent, without waiting, before the reader sends the replies queued so far, while
    /// replies are few: at queue depth 32 a client that sends each request on its own would otherwise get a send of
    /// one or two replies per request it sent. Tried only while such receives find data (after one that finds none,
    /// the next <see cref="EarlyReceiveBackoff"/> are skipped): a client at queue depth 1 sends nothing until it has
    /// its reply, and would pay a receive per request for nothing.
    /// </summary>
    /// <returns>Whether bytes arrived.</returns>
    private bool TryReceiveBeforeReplies(int headerLength)
    {
        if (!BusyPolls || Volatile.Read(ref _replyCount) >= ReplyBatch)
        {
            return false;
        }

        if (_earlyReceiveSkips > 0)
        {
            _earlyReceiveSkips--;
            return false;
        }

        MakeRoom(headerLength);
        int room = _largeWrites ? headerLength - Buffered : _readBuffer.Length - _readEnd;
        int received = NonBlockingSocket.TryReceive(_socketFd, _readBuffer.AsSpan(_readEnd, room));
        if (received <= 0)
        {
            // Nothing yet, or the end of the stream (the blocking read after the replies sees it too).
            _earlyReceiveSkips = EarlyReceiveBackoff;
            return false;
        }

        _readEnd += received;
        return true;
    }

    /// <summary>Moves the buffered bytes to the front when fewer than <paramref name="count"/> fit after them.</summary>
    private void MakeRoom(int count)
    {
        if (_readBuffer.Length - _readStart < count)
        {
            Buffer.BlockCopy(_readBuffer, _readStart, _readBuffer, 0, Buffered);
            _readEnd -= _readStart;
            _readStart = 0;
        }
    }

    /// <summary>Gets whether the connections are few enough that each reader and its client can have a CPU.</summary>
    private bool HasSpareCpu => _server.TransmittingConnections * 2 <= Environment.ProcessorCount;

    /// <summary>
    /// Gets whether the reader polls the socket for up to <see cref="NbdServerOptions.BusyPoll"/> before it blocks:
    /// while connections are few enough that each reader and its client can have a CPU (see that option), on plain
    /// sockets.
    /// </summary>
    private bool BusyPolls => _busyPollTicks != 0 && _sslStream is null && NonBlockingSocket.IsSupported && HasSpareCpu;

    /// <summary>
    /// Receives into the read buffer, polling for up to <see cref="NbdServerOptions.BusyPoll"/> before it blocks.
    /// Each poll is the receive itself (<c>recv(MSG_DONTWAIT)</c>): at queue depth 32 the reader used to ask
    /// <c>poll</c> and then read, two system calls per request where one does. It never asks with <c>FIONREAD</c>
    /// (<see cref="Socket.Available"/>): TCP's ioctl takes the socket lock, which the receive path needs too, so a
    /// reader spinning on it slowed the very data it waited for. Yields between polls, so a client on the same CPU
    /// still runs.
    /// </summary>
    /// <param name="room">Bytes the buffer may take at <see cref="_readEnd"/>.</param>
    /// <returns>The bytes received, 0 at the end of the stream.</returns>
    private int ReceiveBusyPolling(int room)
    {
        Span<byte> into = _readBuffer.AsSpan(_readEnd, room);
        int received = NonBlockingSocket.TryReceive(_socketFd, into);
        if (received >= 0)
        {
            return received;
        }

        long end = Stopwatch.GetTimestamp() + _busyPollTicks;
        do
        {
            Thread.Yield();
            received = NonBlockingSocket.TryReceive(_socketFd, into);
            if (received >= 0)
            {
                return received;
            }
        }
        while (Stopwatch.GetTimestamp() < end);

        // Nothing came (or the receive failed: the blocking read reports why).
        return _stream.Read(_readBuffer, _readEnd, room);
    }

    /// <summary>Copies <paramref name="destination"/>.Length bytes of the stream into it, buffered bytes first.</summary>
    /// <returns>False when the stream ended first.</returns>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private bool ReadExact(Span<byte> destination)
    {
        int fromBuffer = Math.Min(Buffered, destination.Length);
        _readBuffer.AsSpan(_readStart, fromBuffer).CopyTo(destination);
        _readStart += fromBuffer;
        destination = destination[fromBuffer..];
        while (!destination.IsEmpty)
        {
            // Large payloads go straight from the socket into the request's buffer, not through _readBuffer.
            int read = _stream.Read(destination);
            if (read == 0)
            {
                return false;
            }

            destination = destination[read..];
        }

        return true;
    }

    /// <summary>Reads and drops <paramref name="count"/> bytes.</summary>
    /// <returns>False when the stream ended first.</returns>
    private bool Skip(long count)
    {
        while (count > 0)
        {
            if (Buffered == 0 && !Fill((int)Math.Min(count, _readBuffer.Length)))
            {
                return false;
            }

            int take = (int)Math.Min(count, Buffered);
            _readStart += take;
            count -= take;
        }

        return true;
    }

    private static ulong ReadUInt64(ReadOnlySpan<byte> span, int offset) => BinaryPrimitives.ReadUInt64BigEndian(span[offset..]);

    private static uint ReadUInt32(ReadOnlySpan<byte> span, int offset) => BinaryPrimitives.ReadUInt32BigEndian(span[offset..]);

    private static ushort ReadUInt16(ReadOnlySpan<byte> span, int offset) => BinaryPrimitives.ReadUInt16BigEndian(span[offset..]);
}
