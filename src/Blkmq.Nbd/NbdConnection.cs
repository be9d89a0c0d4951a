using System.Buffers.Binary;
using System.IO;
using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;

namespace Blkmq.Nbd;

/// <summary>
/// One client connection of an <see cref="NbdServer"/>: the fixed-newstyle handshake, then the transmission phase
/// with one reader loop (parses requests, reads payloads into pooled buffers, starts IO without waiting for it), the
/// IO completing in any order, and one writer loop that batches finished replies into a write buffer so several go
/// out per send. The number of requests and payload bytes held per connection is bounded: when the bound is reached
/// the reader stops reading until replies have been sent, so a client that never reads its replies cannot make the
/// server buffer without limit.
/// </summary>
internal sealed partial class NbdConnection : IDisposable
{
    private const int ReadBufferSize = 128 * 1024;
    private const int WriteBufferSize = 256 * 1024;

    /// <summary>The connection whose reader is inside <see cref="NbdRequest.Execute"/> on this thread, if any.</summary>
    [ThreadStatic]
    private static NbdConnection? t_executing;

    private readonly NbdServer _server;
    private readonly Socket _socket;
    private readonly ILogger _logger;
    private readonly NetworkStream _networkStream;
    private readonly byte[] _readBuffer = new byte[ReadBufferSize];
    private readonly CancellationTokenSource _readCancel;
    private readonly Lock _lock = new();
    private readonly Stack<NbdRequest> _free = new();
    private readonly AsyncSignal _capacityFreed = new();
    private readonly AsyncSignal _repliesReady = new();
    private readonly AsyncSignal _idle = new();
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
    private bool _replyClosed;
    private bool _readerWaiting;
    private bool _readerDone;
    private int _inFlight;
    private long _bufferedBytes;
    private long _peakBufferedBytes;
    private volatile bool _writeFailed;
    private volatile bool _stopping;
    private int _aborted;

    public NbdConnection(NbdServer server, Socket socket, long id, CancellationToken serverStopping)
    {
        _server = server;
        _socket = socket;
        Id = id;
        _logger = server.Logger;
        _networkStream = new NetworkStream(socket, ownsSocket: true);
        _stream = _networkStream;
        _maxInFlight = server.Options.MaxInFlightPerConnection;
        _maxBufferedBytes = server.Options.MaxBufferedBytesPerConnection;
        _readCancel = CancellationTokenSource.CreateLinkedTokenSource(serverStopping);
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

    /// <summary>Runs the connection to its end; never throws.</summary>
    /// <returns>A task that completes when the connection is closed and every request it started has ended.</returns>
    public async Task RunAsync()
    {
        string reason = "closed";
        try
        {
            bool transmit;
            using (var handshakeTimeout = CancellationTokenSource.CreateLinkedTokenSource(_readCancel.Token))
            {
                handshakeTimeout.CancelAfter(_server.Options.HandshakeTimeout);
                try
                {
                    transmit = await HandshakeAsync(handshakeTimeout.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (handshakeTimeout.IsCancellationRequested && !_readCancel.IsCancellationRequested)
                {
                    NbdLog.HandshakeTimedOut(_logger, Id, _server.Options.HandshakeTimeout);
                    reason = "handshake timeout";
                    return;
                }
            }

            if (transmit)
            {
                reason = await TransmitAsync().ConfigureAwait(false);
            }
            else
            {
                reason = "handshake ended";
            }
        }
        catch (OperationCanceledException) when (_readCancel.IsCancellationRequested)
        {
            reason = "server stopping";
        }
        catch (EndOfStreamException)
        {
            NbdLog.ClientGone(_logger, Id, "handshake");
            reason = "client closed during handshake";
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            NbdLog.ClientGone(_logger, Id, "handshake");
            reason = "connection error during handshake";
        }
        catch (Exception e) when (e is System.Security.Authentication.AuthenticationException)
        {
            NbdLog.TlsHandshakeFailed(_logger, e, Id);
            reason = "TLS failed";
        }
#pragma warning disable CA1031 // A connection loop lets no exception escape: one bad connection must not stop the server.
        catch (Exception e)
#pragma warning restore CA1031
        {
            NbdLog.ConnectionFailed(_logger, e, Id);
            reason = "failed";
        }
        finally
        {
            await CloseAsync().ConfigureAwait(false);
            NbdLog.ConnectionClosed(_logger, Id, reason);
        }
    }

    /// <summary>Stops reading new requests; in-flight ones finish and their replies are sent.</summary>
    public void Stop()
    {
        _stopping = true;
        _capacityFreed.Set();
    }

    /// <summary>Closes the socket at once: pending sends fail and queued replies are dropped (requests still end).</summary>
    public void Abort()
    {
        if (Interlocked.Exchange(ref _aborted, 1) != 0)
        {
            return;
        }

        _stopping = true;
        _writeFailed = true;
        try
        {
            _readCancel.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The connection already ended.
        }

        _socket.Dispose();
        _capacityFreed.Set();
        _repliesReady.Set();
    }

    /// <summary>Called by a request when its IO has ended (on any thread): queues its reply for the writer.</summary>
    /// <param name="request">The finished request; owned by the writer from now on.</param>
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
                request = null!;
            }
        }

        if (request is not null)
        {
            // The writer is gone (cannot happen while requests are in flight; kept for safety): just release it.
            Release(request);
        }
        else if (wake && t_executing != this)
        {
            // Completed on another thread: wake the writer. A completion inline in the reader's Execute needs no
            // wake-up (and no thread hop): the reader sends it itself before it waits for anything.
            _repliesReady.Set();
        }
    }

    private async ValueTask CloseAsync()
    {
        try
        {
            if (_sslStream is not null && Volatile.Read(ref _aborted) == 0)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(1));
                await _sslStream.ShutdownAsync().WaitAsync(timeout.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
        {
            // Best effort: the peer may already be gone.
        }

        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Already closed by the peer or by Abort.
        }

        Dispose();
    }

    /// <summary>Releases the socket and streams; the connection must have ended (<see cref="RunAsync"/> does this).</summary>
    public void Dispose()
    {
        _sslStream?.Dispose();
        _networkStream.Dispose();
        _socket.Dispose();
        _readCancel.Dispose();
    }

    /// <summary>Takes a request from the pool, waiting while the connection holds too many requests or bytes.</summary>
    /// <returns>A request, or null when the connection is stopping.</returns>
    private async ValueTask<NbdRequest?> AcquireAsync(long budgetBytes)
    {
        while (true)
        {
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
            }

            // Replies the reader queued inline are what frees capacity: make sure the writer sends them.
            _repliesReady.Set();
            await _capacityFreed.WaitAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Returns a request to the pool after its reply was sent (or dropped).</summary>
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
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> FillAsync(int count, CancellationToken cancellationToken)
    {
        if (_readBuffer.Length - _readStart < count)
        {
            Buffer.BlockCopy(_readBuffer, _readStart, _readBuffer, 0, Buffered);
            _readEnd -= _readStart;
            _readStart = 0;
        }

        while (Buffered < count)
        {
            int read = await _stream.ReadAsync(_readBuffer.AsMemory(_readEnd), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return false;
            }

            _readEnd += read;
        }

        return true;
    }

    /// <summary>Copies <paramref name="destination"/>.Length bytes of the stream into it, buffered bytes first.</summary>
    /// <returns>False when the stream ended first.</returns>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<bool> ReadExactAsync(Memory<byte> destination, CancellationToken cancellationToken)
    {
        int fromBuffer = Math.Min(Buffered, destination.Length);
        _readBuffer.AsSpan(_readStart, fromBuffer).CopyTo(destination.Span);
        _readStart += fromBuffer;
        destination = destination[fromBuffer..];
        while (!destination.IsEmpty)
        {
            // Large payloads go straight from the socket into the request's buffer, not through _readBuffer.
            int read = await _stream.ReadAsync(destination, cancellationToken).ConfigureAwait(false);
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
    private async ValueTask<bool> SkipAsync(long count, CancellationToken cancellationToken)
    {
        while (count > 0)
        {
            if (Buffered == 0 && !await FillAsync(1, cancellationToken).ConfigureAwait(false))
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
