using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.IO;
using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace Blkmq.Nbd;

/// <content>
/// The transmission phase's writer: whoever holds the writer role (the reader between requests, or the connection's
/// writer thread for requests completed elsewhere) takes every finished request from the reply queue, formats the
/// replies into one write buffer (payloads larger than what is left go out directly after it), sends the batch with
/// one write and returns the requests to the pool.
/// </content>
internal sealed partial class NbdConnection
{
    /// <summary>Payloads at least this long are sent from where they are instead of being copied.</summary>
    private const int GatherThreshold = 16 * 1024;

    /// <summary>The most pieces one gathering send carries: the runtime gathers up to 8 without allocating.</summary>
    private const int MaxSegments = 8;

    /// <summary>
    /// Up to this many requests held by the connection, a thread that completes one sends its reply itself (see
    /// <see cref="TrySendFromCompleter"/>); deeper, the writer thread batches the replies of many completions per send.
    /// 1, the QD1 round trip: with 2, fio's QD32 randread on timer completions measured 0.92x in two runs (0.97-1.05x
    /// with 1, within the noise).
    /// </summary>
    private const int CompleterSendDepth = 1;

    private readonly byte[] _writeBuffer = ArrayPool<byte>.Shared.Rent(WriteBufferSize);
    private readonly List<ArraySegment<byte>> _segments = new(MaxSegments + 1);
    private int _writeLength;
    private int _segmentStart;
    private NbdRequest[] _batch = [];

    // The writer role: whoever holds it (the writer loop, the reader between requests, or a thread that completed a
    // request, see TrySendFromCompleter) owns _writeBuffer and _batch. WriterFree, WriterHeld, or WriterHandedOver: a
    // completing thread's batch is part sent, and the role is the writer thread's, to send _writeBuffer[_handOverStart..].
    private const int WriterFree = 0;
    private const int WriterHeld = 1;
    private const int WriterHandedOver = 2;
    private int _writerBusy;
    private int _handOverStart;
    private int _handOverCount;

    // Counted by the holder of the writer role; read by tests and diagnostics.
    private long _completerSends;
    private long _handOvers;

    /// <summary>Gets how many batches of replies a completing thread sent itself (see <see cref="TrySendFromCompleter"/>).</summary>
    public long CompleterSends => Volatile.Read(ref _completerSends);

    /// <summary>Gets how many of those the socket did not take at once, so that the writer thread sent the rest.</summary>
    public long HandOvers => Volatile.Read(ref _handOvers);

    /// <summary>The writer thread: sends replies of requests that completed away from the reader, until replies close.</summary>
    private void WriteLoop()
    {
        while (true)
        {
            bool mine;
            if (Volatile.Read(ref _writerBusy) == WriterHandedOver)
            {
                // A completing thread left part of its batch unsent (the socket was full) and the writer role with it:
                // no one else moves the word from here.
                Volatile.Write(ref _writerBusy, WriterHeld);
                FinishHandOver();
                mine = true;
            }
            else
            {
                mine = Interlocked.CompareExchange(ref _writerBusy, WriterHeld, WriterFree) == WriterFree;
            }

            if (mine)
            {
                DrainReplies();
                if (ReleaseWriterRole())
                {
                    // A reply queued while someone else was the writer, or after the last drain: go again.
                    continue;
                }
            }

            lock (_lock)
            {
                if (_replyClosed && _replyCount == 0)
                {
                    break;
                }
            }

            _repliesReady.Wait();
        }

        _writeLength = 0;
    }

    /// <summary>
    /// Gives the writer role up, and tells whether replies are queued. The exchange is a full fence: a completion that
    /// queued a reply and found the role taken has signalled the writer thread, and either that thread takes the role
    /// after this, or this sees the reply (a plain store here could be passed by the load, and both would miss it).
    /// </summary>
    /// <returns>True when replies wait that the caller must send or hand to the writer thread.</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool ReleaseWriterRole()
    {
        Interlocked.Exchange(ref _writerBusy, WriterFree);
        return Volatile.Read(ref _replyCount) != 0;
    }

    /// <summary>
    /// Called by the reader before it waits for more requests: if no one is writing, it sends the queued replies itself,
    /// so replies to requests that completed inline go out in one send without waking the writer thread.
    /// </summary>
    private void TryDrainInline()
    {
        if (Volatile.Read(ref _replyCount) == 0 || Interlocked.CompareExchange(ref _writerBusy, WriterHeld, WriterFree) != WriterFree)
        {
            return;
        }

        DrainReplies();
        if (ReleaseWriterRole())
        {
            // Queued after the drain: its signal may have found the writer role taken, so hand it over now.
            _repliesReady.Set();
        }
    }

    /// <summary>
    /// Called on the thread that completed a request away from the reader, when its reply made the queue non-empty:
    /// when the connection holds no other request (<see cref="CompleterSendDepth"/>), no one is writing and the reply
    /// fits the write buffer, it sends it itself without blocking, saving the writer thread's wake-up. Whatever the
    /// socket does not take at once goes to the writer thread with the writer role, so a completing thread (a ring
    /// thread, a driver's callback) never waits for a client that does not read.
    /// </summary>
    /// <returns>False when the caller must signal the writer thread instead.</returns>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private bool TrySendFromCompleter()
    {
        if (_sslStream is not null || _socketFd < 0 || Volatile.Read(ref _inFlight) > CompleterSendDepth
            || Interlocked.CompareExchange(ref _writerBusy, WriterHeld, WriterFree) != WriterFree)
        {
            return false;
        }

        int count;
        lock (_lock)
        {
            count = FitsWriteBufferLocked() ? TakeRepliesLocked() : -1;
        }

        if (count <= 0)
        {
            // Too much to format without sending (the writer thread does it), or taken by the writer before this; either
            // way the writer thread must hear of replies queued now.
            bool queued = ReleaseWriterRole();
            return count == 0 && !queued;
        }

        for (int i = 0; i < count; i++)
        {
            if (!_writeFailed)
            {
                Guarded(static (connection, request) => connection.WriteReply(request!), _batch[i]);
            }
        }

        Debug.Assert(_segments.Count == 0, "Replies that fit the write buffer are formatted without a gathering send.");
        Volatile.Write(ref _completerSends, _completerSends + 1);
        int sent = 0;
        while (sent < _writeLength && !_writeFailed)
        {
            int now = NonBlockingSocket.TrySend(_socketFd, _writeBuffer.AsSpan(sent, _writeLength - sent));
            if (now < 0)
            {
                OnWriteFailed();
            }
            else if (now == 0)
            {
                // The socket is full: the writer thread sends the rest, blocking, and releases the batch after it.
                _handOverStart = sent;
                _handOverCount = count;
                Volatile.Write(ref _handOvers, _handOvers + 1);
                Volatile.Write(ref _writerBusy, WriterHandedOver);
                _repliesReady.Set();
                return true;
            }

            sent += now;
        }

        _writeLength = 0;
        ReleaseBatch(count);
        if (ReleaseWriterRole())
        {
            _repliesReady.Set();
        }

        return true;
    }

    /// <summary>Sends the rest of a batch a completing thread handed over, then releases its requests.</summary>
    private void FinishHandOver()
    {
        if (!_writeFailed && _writeLength > _handOverStart)
        {
            Guarded(static (connection, _) => connection._stream.Write(connection._writeBuffer, connection._handOverStart, connection._writeLength - connection._handOverStart), null);
        }

        _writeLength = 0;
        ReleaseBatch(_handOverCount);
    }

    /// <summary>
    /// Tells whether every queued reply can be formatted into the write buffer with nothing sent on the way: few enough,
    /// no payload large enough for a gathering send. Caller holds <see cref="_lock"/>; the write buffer is empty.
    /// </summary>
    private bool FitsWriteBufferLocked()
    {
        if (_replyCount > CompleterSendDepth)
        {
            return false;
        }

        for (int i = 0; i < _replyCount; i++)
        {
            NbdRequest request = _replyRing[(_replyHead + i) % _replyRing.Length];
            if (request.Error == 0 && request.Type is NbdProtocol.CmdRead or NbdProtocol.CmdBlockStatus
                && request.BufferLength >= GatherThreshold)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Moves every queued reply to <see cref="_batch"/>. Caller holds <see cref="_lock"/> and the writer role.</summary>
    /// <returns>How many were moved.</returns>
    private int TakeRepliesLocked()
    {
        int count = _replyCount;
        for (int i = 0; i < count; i++)
        {
            _batch[i] = _replyRing[(_replyHead + i) % _replyRing.Length];
        }

        _replyHead = (_replyHead + count) % _replyRing.Length;
        _replyCount = 0;
        _queuedReplyBytes = 0;
        return count;
    }

    /// <summary>Returns the first <paramref name="count"/> requests of <see cref="_batch"/> to the pool.</summary>
    private void ReleaseBatch(int count)
    {
        for (int i = 0; i < count; i++)
        {
            Release(_batch[i]);
            _batch[i] = null!;
        }
    }

    /// <summary>Sends every queued reply and returns the requests to the pool. Only the holder of the writer role calls it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void DrainReplies()
    {
        while (true)
        {
            int count;
            lock (_lock)
            {
                count = TakeRepliesLocked();
            }

            if (count == 0)
            {
                break;
            }

            for (int i = 0; i < count; i++)
            {
                if (!_writeFailed)
                {
                    Guarded(static (connection, request) => connection.WriteReply(request!), _batch[i]);
                }
            }

            // Payloads sent in place are referenced until sent: flush before their buffers go back to the pool.
            if (_segments.Count != 0 && !_writeFailed)
            {
                Guarded(static (connection, _) => connection.FlushWrites(), null);
            }

            ReleaseBatch(count);
        }

        if (!_writeFailed && _writeLength != 0)
        {
            Guarded(static (connection, _) => connection.FlushWrites(), null);
        }

        _segments.Clear();
        _segmentStart = 0;
    }

    /// <summary>Runs one step of sending; a failure marks the connection's writes failed instead of escaping.</summary>
    private void Guarded(Action<NbdConnection, NbdRequest?> step, NbdRequest? request)
    {
        try
        {
            step(this, request);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            OnWriteFailed();
        }
#pragma warning disable CA1031 // A failed reply must not stop the drain: every queued request still goes back to the pool.
        catch (Exception e)
#pragma warning restore CA1031
        {
            NbdLog.ConnectionFailed(_logger, e, Id);
            OnWriteFailed();
        }
    }

    private void OnWriteFailed()
    {
        // The client is gone or the connection was aborted: drop queued replies, stop the reader.
        _writeFailed = true;
        _writeLength = 0;
        ShutdownSocket(SocketShutdown.Both);
    }

    /// <summary>Formats one reply into the write buffer, sending the buffer (and large payloads) when it fills.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void WriteReply(NbdRequest request)
    {
        if (request.Error != 0)
        {
            EnsureSpace(64 + 128);
            AppendError(request);
            return;
        }

        switch (request.Type)
        {
            case NbdProtocol.CmdRead:
                if (!StructuredReplies)
                {
                    EnsureSpace(NbdProtocol.SimpleReplyHeaderLength);
                    AppendSimple(0, request.Cookie);
                    AppendPayload(request.Buffer!, 0, request.BufferLength);
                    return;
                }

                if ((request.Flags & NbdProtocol.CmdFlagDf) == 0)
                {
                    PlanReadChunks(Export!, request);
                }

                if (request.ChunkCount == 0)
                {
                    AppendDataChunk(request, 0, request.BufferLength, done: true);
                    return;
                }

                for (int i = 0; i < request.ChunkCount; i++)
                {
                    NbdReadChunk chunk = request.Chunks[i];
                    bool done = i == request.ChunkCount - 1;
                    if (chunk.IsHole)
                    {
                        EnsureSpace(NbdProtocol.ExtendedReplyHeaderLength + 12);
                        AppendHole(request, chunk.Start, chunk.Length, done);
                    }
                    else
                    {
                        AppendDataChunk(request, chunk.Start, chunk.Length, done);
                    }
                }

                return;
            case NbdProtocol.CmdBlockStatus:
                EnsureSpace(NbdProtocol.ExtendedReplyHeaderLength);
                AppendChunkHeader(
                    request,
                    NbdProtocol.ReplyFlagDone,
                    _extended ? NbdProtocol.ReplyTypeBlockStatusExtended : NbdProtocol.ReplyTypeBlockStatus,
                    (uint)request.BufferLength);
                AppendPayload(request.Buffer!, 0, request.BufferLength);
                return;
            default:
                EnsureSpace(NbdProtocol.ExtendedReplyHeaderLength);
                if (_extended)
                {
                    AppendChunkHeader(request, NbdProtocol.ReplyFlagDone, NbdProtocol.ReplyTypeNone, 0);
                }
                else
                {
                    AppendSimple(0, request.Cookie);
                }

                return;
        }
    }

    private void AppendDataChunk(NbdRequest request, int start, int length, bool done)
    {
        EnsureSpace(NbdProtocol.ExtendedReplyHeaderLength + 8);
        AppendChunkHeader(request, done ? NbdProtocol.ReplyFlagDone : (ushort)0, NbdProtocol.ReplyTypeOffsetData, (uint)(8 + length));
        BinaryPrimitives.WriteUInt64BigEndian(_writeBuffer.AsSpan(_writeLength), request.Offset + (ulong)start);
        _writeLength += 8;
        AppendPayload(request.Buffer!, start, length);
    }

    private void AppendHole(NbdRequest request, int start, int length, bool done)
    {
        AppendChunkHeader(request, done ? NbdProtocol.ReplyFlagDone : (ushort)0, NbdProtocol.ReplyTypeOffsetHole, 12);
        Span<byte> span = _writeBuffer.AsSpan(_writeLength, 12);
        BinaryPrimitives.WriteUInt64BigEndian(span, request.Offset + (ulong)start);
        BinaryPrimitives.WriteUInt32BigEndian(span[8..], (uint)length);
        _writeLength += 12;
    }

    private void AppendError(NbdRequest request)
    {
        if (!StructuredReplies)
        {
            AppendSimple(request.Error, request.Cookie);
            return;
        }

        ReadOnlySpan<byte> text = MessageText(request.Message);
        AppendChunkHeader(request, NbdProtocol.ReplyFlagDone, NbdProtocol.ReplyTypeError, (uint)(6 + text.Length));
        Span<byte> span = _writeBuffer.AsSpan(_writeLength, 6 + text.Length);
        BinaryPrimitives.WriteUInt32BigEndian(span, request.Error);
        BinaryPrimitives.WriteUInt16BigEndian(span[4..], (ushort)text.Length);
        text.CopyTo(span[6..]);
        _writeLength += 6 + text.Length;
    }

    private void AppendSimple(uint error, ulong cookie)
    {
        Span<byte> span = _writeBuffer.AsSpan(_writeLength, NbdProtocol.SimpleReplyHeaderLength);
        BinaryPrimitives.WriteUInt32BigEndian(span, NbdProtocol.SimpleReplyMagic);
        BinaryPrimitives.WriteUInt32BigEndian(span[4..], error);
        BinaryPrimitives.WriteUInt64BigEndian(span[8..], cookie);
        _writeLength += NbdProtocol.SimpleReplyHeaderLength;
    }

    private void AppendChunkHeader(NbdRequest request, ushort flags, ushort type, uint length)
    {
        if (_extended)
        {
            Span<byte> span = _writeBuffer.AsSpan(_writeLength, NbdProtocol.ExtendedReplyHeaderLength);
            BinaryPrimitives.WriteUInt32BigEndian(span, NbdProtocol.ExtendedReplyMagic);
            BinaryPrimitives.WriteUInt16BigEndian(span[4..], flags);
            BinaryPrimitives.WriteUInt16BigEndian(span[6..], type);
            BinaryPrimitives.WriteUInt64BigEndian(span[8..], request.Cookie);
            BinaryPrimitives.WriteUInt64BigEndian(span[16..], request.Offset);
            BinaryPrimitives.WriteUInt64BigEndian(span[24..], length);
            _writeLength += NbdProtocol.ExtendedReplyHeaderLength;
        }
        else
        {
            Span<byte> span = _writeBuffer.AsSpan(_writeLength, NbdProtocol.StructuredReplyHeaderLength);
            BinaryPrimitives.WriteUInt32BigEndian(span, NbdProtocol.StructuredReplyMagic);
            BinaryPrimitives.WriteUInt16BigEndian(span[4..], flags);
            BinaryPrimitives.WriteUInt16BigEndian(span[6..], type);
            BinaryPrimitives.WriteUInt64BigEndian(span[8..], request.Cookie);
            BinaryPrimitives.WriteUInt32BigEndian(span[16..], length);
            _writeLength += NbdProtocol.StructuredReplyHeaderLength;
        }
    }

    /// <summary>Makes room for <paramref name="bytes"/> in the write buffer, sending it if needed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void EnsureSpace(int bytes)
    {
        if (_writeBuffer.Length - _writeLength < bytes)
        {
            FlushWrites();
        }
    }

    /// <summary>
    /// Adds a payload to the output: a large one on a plain socket is sent in place by a gathering send (no copy); others
    /// are copied into the write buffer, or, when they do not fit, sent right after it.
    /// </summary>
    private void AppendPayload(byte[] buffer, int start, int length)
    {
        if (length >= GatherThreshold && _sslStream is null)
        {
            CloseWriteRun();
            _segments.Add(new ArraySegment<byte>(buffer, start, length));
            if (_segments.Count >= MaxSegments - 1)
            {
                // Full but for the run of write-buffer bytes that may follow.
                FlushWrites();
            }

            return;
        }

        if (_writeBuffer.Length - _writeLength >= length)
        {
            buffer.AsSpan(start, length).CopyTo(_writeBuffer.AsSpan(_writeLength));
            _writeLength += length;
            return;
        }

        FlushWrites();
        _stream.Write(buffer, start, length);
    }

    /// <summary>Ends the run of write-buffer bytes not yet listed in <see cref="_segments"/>, listing it.</summary>
    private void CloseWriteRun()
    {
        if (_writeLength > _segmentStart)
        {
            _segments.Add(new ArraySegment<byte>(_writeBuffer, _segmentStart, _writeLength - _segmentStart));
            _segmentStart = _writeLength;
        }
    }

    /// <summary>Sends everything appended so far: the write buffer, and with it any payloads listed for a gathering send.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void FlushWrites()
    {
        if (_segments.Count == 0)
        {
            int length = _writeLength;
            _writeLength = 0;
            _segmentStart = 0;
            if (length != 0)
            {
                _stream.Write(_writeBuffer, 0, length);
            }

            return;
        }

        CloseWriteRun();
        _writeLength = 0;
        _segmentStart = 0;
        SendSegments();
    }

    /// <summary>Sends <see cref="_segments"/> with as few <c>sendmsg</c> calls as the socket allows, then empties it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void SendSegments()
    {
        long remaining = 0;
        foreach (ArraySegment<byte> segment in _segments)
        {
            remaining += segment.Count;
        }

        while (true)
        {
            int sent = _socket.Send(_segments);
            remaining -= sent;
            if (remaining <= 0)
            {
                break;
            }

            // A partial send (a signal, or a socket buffer smaller than the batch): drop what went out, send the rest.
            int first = 0;
            while (sent >= _segments[first].Count)
            {
                sent -= _segments[first].Count;
                first++;
            }

            _segments.RemoveRange(0, first);
            _segments[0] = _segments[0][sent..];
        }

        _segments.Clear();
    }

    private static ReadOnlySpan<byte> MessageText(NbdErrorMessage message) => message switch
    {
        NbdErrorMessage.UnknownCommand => "unknown command"u8,
        NbdErrorMessage.InvalidFlags => "command flags not valid for this command"u8,
        NbdErrorMessage.ZeroLength => "zero-length request"u8,
        NbdErrorMessage.Misaligned => "offset or length not a multiple of the minimum block size"u8,
        NbdErrorMessage.OutOfRange => "request beyond the end of the export"u8,
        NbdErrorMessage.TooLarge => "request longer than the maximum payload"u8,
        NbdErrorMessage.ReadOnly => "export is read-only"u8,
        NbdErrorMessage.TrimUnsupported => "trim not supported by this export"u8,
        NbdErrorMessage.NoMetaContext => "no metadata context was negotiated"u8,
        NbdErrorMessage.FastZeroUnsupported => "fast zeroing not supported by this export"u8,
        NbdErrorMessage.FlushArguments => "flush offset and length must be zero"u8,
        NbdErrorMessage.IOFailed => "I/O error"u8,
        NbdErrorMessage.ShuttingDown => "server shutting down"u8,
        NbdErrorMessage.BadPayload => "unexpected or malformed request payload"u8,
        NbdErrorMessage.Offline => "the export's disk is powered off or removed"u8,
        _ => default,
    };
}
