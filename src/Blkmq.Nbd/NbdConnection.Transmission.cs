using System.Buffers.Binary;
using System.IO;
using System.Net.Sockets;

using System.Runtime.CompilerServices;
using Blkmq.Metrics;

namespace Blkmq.Nbd;

/// <content>The transmission phase's reader: parses requests, validates them and starts their IO.</content>
internal sealed partial class NbdConnection
{
    /// <summary>Runs the transmission phase until the client disconnects, the server stops or the protocol breaks.</summary>
    /// <returns>Why it ended, for the log.</returns>
    private string Transmit()
    {
        _replyRing = new NbdRequest[_maxInFlight];
        _batch = new NbdRequest[_maxInFlight];
        _server.Threads.Run(
            static state =>
            {
                var connection = (NbdConnection)state!;
                connection.WriteLoop();
                connection._writerDone.Set();
            },
            this);
        string reason;
        _server.OnTransmissionStarted();
        try
        {
            reason = ReadLoop();
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            reason = EndReason("connection lost");
            if (!_stopping)
            {
                NbdLog.ClientGone(_logger, Id, "transmission");
            }
        }
#pragma warning disable CA1031 // The connection loop lets no exception escape: requests in flight must still be waited for below.
        catch (Exception e)
#pragma warning restore CA1031
        {
            NbdLog.ConnectionFailed(_logger, e, Id);
            reason = "failed";
        }

        finally
        {
            _server.OnTransmissionEnded();
        }

        // Replies queued inline are sent by the reader before it next waits for input. When the end of the connection
        // came in the same receive as their requests (NBD_CMD_DISC, a bad magic, a truncated payload) that wait never
        // comes: hand them to the writer, or the wait below for their release would never end.
        _repliesReady.Set();

        // Every started request must end before its buffer goes back to the pool: wait for them, then let the writer
        // send what is queued and finish.
        bool idle;
        lock (_lock)
        {
            _readerDone = true;
            idle = _inFlight == 0;
        }

        while (!idle)
        {
            _idle.Wait();
            lock (_lock)
            {
                idle = _inFlight == 0;
            }
        }

        lock (_lock)
        {
            _replyClosed = true;
        }

        _repliesReady.Set();
        _writerDone.Wait();
        return reason;
    }

    /// <summary>Names why reading ended when the socket stopped delivering: a stop or a failed write shut it down.</summary>
    private string EndReason(string otherwise) => _writeFailed ? "client stopped reading" : _stopping ? "server stopping" : otherwise;

    /// <summary>
    /// Reads requests until the connection ends, one step per method: receive a header, parse it, read or drop its
    /// payload and validate it, then dispatch it (start its IO, or answer it with its error at once). Each step
    /// returns null to go on, or why the connection ends.
    /// </summary>
    /// <returns>Why reading ended, for the log.</returns>
    private string ReadLoop()
    {
        NbdExportEntry export = Export!;
        int headerLength = _extended ? NbdProtocol.ExtendedRequestHeaderLength : NbdProtocol.RequestHeaderLength;
        while (!_stopping)
        {
            var header = default(NbdRequestHeader);
            string? end = ReceiveHeader(headerLength)
                ?? ParseHeader(headerLength, ref header)
                ?? ReceiveArguments(export, ref header)
                ?? Dispatch(export, in header);
            if (end is not null)
            {
                return end;
            }
        }

        return "server stopping";
    }

    /// <summary>Step 1: makes sure a whole request header is buffered, sending completed replies before a wait.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private string? ReceiveHeader(int headerLength)
    {
        if (Buffered >= headerLength)
        {
            return null;
        }

        // Out of buffered requests: when the client is streaming them, take what it sent meanwhile first, so the
        // replies of several requests go out in one send; then send what completed before waiting for the client.
        if (TryReceiveBeforeReplies(headerLength) && Buffered >= headerLength)
        {
            return null;
        }

        TryDrainInline();
        if (Buffered >= headerLength || Fill(headerLength))
        {
            return null;
        }

        if (Buffered != 0)
        {
            NbdLog.ProtocolViolation(_logger, Id, "connection closed inside a request header");
            return "truncated request";
        }

        if (_stopping || _writeFailed)
        {
            return EndReason("client closed");
        }

        NbdLog.ClientGone(_logger, Id, "transmission (no NBD_CMD_DISC)");
        return "client closed";
    }

    /// <summary>
    /// Step 2: parses the buffered header into <paramref name="header"/> and consumes it; ends the connection on a bad
    /// magic, a disconnect request or a write whose payload length cannot be known.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private string? ParseHeader(int headerLength, ref NbdRequestHeader header)
    {
        ReadOnlySpan<byte> bytes = _readBuffer.AsSpan(_readStart, headerLength);
        uint magic = BinaryPrimitives.ReadUInt32BigEndian(bytes);
        header.Flags = BinaryPrimitives.ReadUInt16BigEndian(bytes[4..]);
        header.Type = BinaryPrimitives.ReadUInt16BigEndian(bytes[6..]);
        header.Cookie = BinaryPrimitives.ReadUInt64BigEndian(bytes[8..]);
        header.Offset = BinaryPrimitives.ReadUInt64BigEndian(bytes[16..]);
        header.Length = _extended ? BinaryPrimitives.ReadUInt64BigEndian(bytes[24..]) : BinaryPrimitives.ReadUInt32BigEndian(bytes[24..]);
        _readStart += headerLength;
        if (magic != (_extended ? NbdProtocol.ExtendedRequestMagic : NbdProtocol.RequestMagic))
        {
            NbdLog.ProtocolViolation(_logger, Id, $"bad request magic 0x{magic:x8}");
            return "bad request magic";
        }

        if (header.Type == NbdProtocol.CmdDisc)
        {
            return "client sent NBD_CMD_DISC";
        }

        // How many payload bytes follow the header: a write's data, or (extended headers) any payload so flagged.
        bool write = header.Type == NbdProtocol.CmdWrite;
        if (_extended && (header.Flags & NbdProtocol.CmdFlagPayloadLength) != 0)
        {
            header.Payload = header.Length;
        }
        else if (write && _extended)
        {
            NbdLog.ProtocolViolation(_logger, Id, "NBD_CMD_WRITE without NBD_CMD_FLAG_PAYLOAD_LEN under extended headers");
            return "bad write header";
        }
        else if (write)
        {
            header.Payload = header.Length;
        }

        _largeWrites = write && header.Payload >= DirectPayloadThreshold;
        return null;
    }

    /// <summary>
    /// Step 3: reads a block-status payload, validates the request (<see cref="Validate"/>), and drops a payload the
    /// request will not use (any but a valid write's), which makes the request invalid if it was not already.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private string? ReceiveArguments(NbdExportEntry export, ref NbdRequestHeader header)
    {
        if (header.Type == NbdProtocol.CmdBlockStatus && header.Payload != 0)
        {
            string? end = ReceiveBlockStatusPayload(ref header);
            if (end is not null)
            {
                return end;
            }
        }

        if (header.IsValid)
        {
            header.Error = Validate(export, header.Type, header.Flags, header.Offset, header.Length, out header.Message);
        }

        if (header.Payload != 0 && (!header.IsValid || header.Type != NbdProtocol.CmdWrite))
        {
            if (header.Payload > NbdProtocol.MaxDiscardedPayload)
            {
                NbdLog.PayloadTooLarge(_logger, Id, (long)header.Payload);
                return "payload too large";
            }

            if (!Skip((long)header.Payload))
            {
                NbdLog.ClientGone(_logger, Id, "a request payload");
                return "truncated request payload";
            }

            header.Payload = 0;
            if (header.IsValid)
            {
                header.Reject(NbdProtocol.Einval, NbdErrorMessage.BadPayload);
            }
        }

        return null;
    }

    /// <summary>Reads extended headers' block-status payload: a 64-bit effect length, then the context ids to answer.</summary>
    private string? ReceiveBlockStatusPayload(ref NbdRequestHeader header)
    {
        ulong payload = header.Payload;
        if (payload < 12 || payload > 8 + 64 || payload % 4 != 0)
        {
            // Dropped with the other unused payloads.
            header.Reject(NbdProtocol.Einval, NbdErrorMessage.BadPayload);
            return null;
        }

        byte[] statusIds = new byte[payload];
        if (!ReadExact(statusIds))
        {
            NbdLog.ClientGone(_logger, Id, "a request payload");
            return "truncated request payload";
        }

        header.Length = BinaryPrimitives.ReadUInt64BigEndian(statusIds);
        header.Payload = 0;
        if (!ValidStatusIds(statusIds))
        {
            header.Reject(NbdProtocol.Einval, NbdErrorMessage.BadPayload);
        }

        return null;
    }

    /// <summary>
    /// Step 4: takes a pooled request (waiting while the connection holds too much), then answers an invalid request
    /// with its error, or fills a valid one's buffer (write payload, cleared read buffer, block status) and starts its IO.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private string? Dispatch(NbdExportEntry export, in NbdRequestHeader header)
    {
        long budget = !header.IsValid ? 0 : header.Type switch
        {
            NbdProtocol.CmdRead or NbdProtocol.CmdWrite => (long)header.Length,
            NbdProtocol.CmdBlockStatus => BlockStatusBufferLength(header.Flags),
            _ => 0,
        };
        NbdRequest? request = Acquire(budget);
        if (request is null)
        {
            return "server stopping";
        }

        request.Flags = header.Flags;
        request.Type = header.Type;
        request.Cookie = header.Cookie;
        request.Offset = header.Offset;
        request.Length = header.Length;
        Count(in header);
        if (!header.IsValid)
        {
            request.Error = header.Error;
            request.Message = header.Message;
            t_executing = this;
            OnRequestCompleted(request);
            t_executing = null;
            return null;
        }

        bool payloadComplete;
        try
        {
            payloadComplete = FillBuffer(export, request, (int)budget);
        }
        catch
        {
            // The request never reached the block layer (connection reset inside the payload, cancellation, a
            // throwing allocation map): give it back, or the connection would wait for it forever.
            Release(request);
            throw;
        }

        if (!payloadComplete)
        {
            Release(request);
            NbdLog.ClientGone(_logger, Id, "a write payload");
            return "truncated write payload";
        }

        if (_largeWritesOffReader && request.Type == NbdProtocol.CmdWrite && budget >= OffReaderWriteBytes && HasSpareCpu)
        {
            request.ExecuteOnThreadPool(export);
            return null;
        }

        t_executing = this;
        try
        {
            request.Execute(export);
        }
        finally
        {
            t_executing = null;
        }

        if (Volatile.Read(ref _queuedReplyBytes) >= WriteBufferSize)
        {
            // Large reads answered inline: send them now, so the client receives while the next ones are read,
            // instead of after every request it queued.
            TryDrainInline();
        }

        return null;
    }

    /// <summary>Counts a request in the connection's front-end counters (plain stores: this thread is their only writer).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Count(in NbdRequestHeader header)
    {
        FrontendRequestKind kind = !header.IsValid ? FrontendRequestKind.Other : header.Type switch
        {
            NbdProtocol.CmdRead => FrontendRequestKind.Read,
            NbdProtocol.CmdWrite => FrontendRequestKind.Write,
            NbdProtocol.CmdFlush => FrontendRequestKind.Flush,
            NbdProtocol.CmdTrim => FrontendRequestKind.Discard,
            NbdProtocol.CmdWriteZeroes => FrontendRequestKind.WriteZeroes,
            _ => FrontendRequestKind.Other,
        };
        _counters.Count(kind, kind is FrontendRequestKind.Read or FrontendRequestKind.Write ? (long)header.Length : 0);
    }

    /// <summary>Gives a valid request its buffer: a write's payload, a read's buffer, or a block-status answer.</summary>
    /// <returns>False when the connection ended inside a write's payload.</returns>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private bool FillBuffer(NbdExportEntry export, NbdRequest request, int budget)
    {
        switch (request.Type)
        {
            case NbdProtocol.CmdWrite:
                int length = (int)request.Length;
                request.RentBuffer(length);
                if (Buffered < length)
                {
                    // About to wait for the rest of the payload: send what completed inline first.
                    TryDrainInline();
                }

                return ReadExact(request.Buffer.AsSpan(0, length));
            case NbdProtocol.CmdRead:
                // Pooled buffers hold earlier requests' data, maybe another client's: the shared read-buffer policy.
                // Holes are read too (the driver's delays and errors apply) and only sent as hole chunks.
                export.Target.PrepareReadBuffer(request.RentBuffer((int)request.Length));
                return true;
            case NbdProtocol.CmdBlockStatus:
                FillBlockStatus(export, request, budget);
                return true;
            default:
                return true;
        }
    }

    /// <summary>Checks a request against the export and the negotiated features.</summary>
    /// <returns>0, or the NBD error to reply with.</returns>
    private uint Validate(NbdExportEntry export, ushort type, ushort flags, ulong offset, ulong length, out NbdErrorMessage message)
    {
        ushort allowed = NbdProtocol.CmdFlagFua;
        bool writes = false;
        switch (type)
        {
            case NbdProtocol.CmdRead:
                if (StructuredReplies)
                {
                    allowed |= NbdProtocol.CmdFlagDf;
                }

                break;
            case NbdProtocol.CmdWrite:
                writes = true;
                if (_extended)
                {
                    allowed |= NbdProtocol.CmdFlagPayloadLength;
                }

                break;
            case NbdProtocol.CmdTrim:
                writes = true;
                break;
            case NbdProtocol.CmdWriteZeroes:
                writes = true;
                allowed |= NbdProtocol.CmdFlagNoHole | NbdProtocol.CmdFlagFastZero;
                break;
            case NbdProtocol.CmdBlockStatus:
                allowed |= NbdProtocol.CmdFlagReqOne;
                if (_extended && _metaContextSelected)
                {
                    allowed |= NbdProtocol.CmdFlagPayloadLength;
                }

                break;
            case NbdProtocol.CmdFlush:
            case NbdProtocol.CmdCache:
                break;
            default:
                message = NbdErrorMessage.UnknownCommand;
                return NbdProtocol.Einval;
        }

        if ((flags & ~allowed) != 0)
        {
            message = NbdErrorMessage.InvalidFlags;
            return NbdProtocol.Einval;
        }

        if (type == NbdProtocol.CmdFlush)
        {
            message = NbdErrorMessage.FlushArguments;
            return offset != 0 || length != 0 ? NbdProtocol.Einval : 0;
        }

        if (writes && export.IsReadOnly)
        {
            message = NbdErrorMessage.ReadOnly;
            return NbdProtocol.Eperm;
        }

        if (type == NbdProtocol.CmdTrim && !export.Disk.SupportsDiscard)
        {
            message = NbdErrorMessage.TrimUnsupported;
            return NbdProtocol.Einval;
        }

        if (type == NbdProtocol.CmdBlockStatus && !_metaContextSelected)
        {
            message = NbdErrorMessage.NoMetaContext;
            return NbdProtocol.Einval;
        }

        if (length == 0)
        {
            message = NbdErrorMessage.ZeroLength;
            return NbdProtocol.Einval;
        }

        ulong mask = (ulong)export.Disk.Limits.LogicalBlockSize - 1;
        if (((offset | length) & mask) != 0)
        {
            message = NbdErrorMessage.Misaligned;
            return NbdProtocol.Einval;
        }

        ulong size = (ulong)export.Disk.Capacity;
        if (offset > size || length > size - offset)
        {
            message = NbdErrorMessage.OutOfRange;
            return type is NbdProtocol.CmdWrite or NbdProtocol.CmdWriteZeroes ? NbdProtocol.Enospc : NbdProtocol.Einval;
        }

        if (type is NbdProtocol.CmdRead or NbdProtocol.CmdWrite && length > NbdProtocol.MaxPayload)
        {
            message = NbdErrorMessage.TooLarge;
            return NbdProtocol.Einval;
        }

        if (type == NbdProtocol.CmdWriteZeroes && (flags & NbdProtocol.CmdFlagFastZero) != 0 && !export.Disk.SupportsWriteZeroes)
        {
            // Without a driver write-zeroes the block layer writes zero buffers: no faster than a write.
            message = NbdErrorMessage.FastZeroUnsupported;
            return NbdProtocol.Enotsup;
        }

        if (type is NbdProtocol.CmdBlockStatus or NbdProtocol.CmdCache && export.Disk.IsRemoved)
        {
            // Reads and writes of a powered-off disk fail ESHUTDOWN in the block layer; these two never reach it,
            // so they say the same here instead of answering from the removed disk's map or succeeding.
            message = NbdErrorMessage.Offline;
            return NbdProtocol.Eshutdown;
        }

        message = NbdErrorMessage.None;
        return 0;
    }

    private static bool ValidStatusIds(ReadOnlySpan<byte> payload)
    {
        // Only base:allocation exists, so the only valid list is that one id, once.
        return payload.Length == 12 && BinaryPrimitives.ReadUInt32BigEndian(payload[8..]) == NbdProtocol.BaseAllocationContextId;
    }

    private int BlockStatusBufferLength(ushort flags)
    {
        int extents = (flags & NbdProtocol.CmdFlagReqOne) != 0 ? 1 : NbdProtocol.MaxExtents;
        return _extended ? 8 + (16 * extents) : 4 + (8 * extents);
    }

    /// <summary>Answers a block-status request for base:allocation into the request's buffer (payload of one chunk).</summary>
    private void FillBlockStatus(NbdExportEntry export, NbdRequest request, int capacity)
    {
        Span<byte> buffer = request.RentBuffer(capacity);
        IAllocationSource? allocation = export.Disk.Allocation;
        int blockMask = export.Disk.Limits.LogicalBlockSize - 1;
        int entrySize = _extended ? 16 : 8;
        int headerSize = _extended ? 8 : 4;
        int maxExtents = (capacity - headerSize) / entrySize;
        long position = (long)request.Offset;
        long end = position + (long)request.Length;
        int count = 0;
        uint lastFlags = uint.MaxValue;
        long lastLength = 0;
        while (position < end && count <= maxExtents)
        {
            long length;
            uint flags;
            if (allocation is null)
            {
                length = end - position;
                flags = 0;
            }
            else
            {
                // The reader waits for a source that answers asynchronously (a remote map): block status is a
                // control request, and the connection's requests before it are already on their way.
                ValueTask<AllocationExtent> pending = allocation.GetExtentAsync(position, end - position);
                AllocationExtent extent = pending.IsCompletedSuccessfully ? pending.Result : pending.AsTask().GetAwaiter().GetResult();
                bool allocated = extent.Allocated;
                length = Math.Clamp(extent.Length, 1, end - position);
                flags = allocated ? 0 : NbdProtocol.StateHole | NbdProtocol.StateZero;

                // Keep descriptors whole blocks, as the spec asks; a partial block counts as allocated.
                long aligned = length & ~(long)blockMask;
                if (aligned == 0)
                {
                    length = Math.Min(blockMask + 1L, end - position);
                    flags = 0;
                }
                else
                {
                    length = Math.Min(aligned, end - position);
                }
            }

            if (count > 0 && flags == lastFlags)
            {
                lastLength += length;
                WriteExtent(buffer, headerSize + ((count - 1) * entrySize), lastLength, flags);
            }
            else
            {
                if (count == maxExtents)
                {
                    break;
                }

                lastLength = length;
                lastFlags = flags;
                WriteExtent(buffer, headerSize + (count * entrySize), length, flags);
                count++;
            }

            position += length;
        }

        BinaryPrimitives.WriteUInt32BigEndian(buffer, NbdProtocol.BaseAllocationContextId);
        if (_extended)
        {
            BinaryPrimitives.WriteUInt32BigEndian(buffer[4..], (uint)count);
        }

        request.BufferLength = headerSize + (count * entrySize);
    }

    private void WriteExtent(Span<byte> buffer, int at, long length, uint flags)
    {
        if (_extended)
        {
            BinaryPrimitives.WriteUInt64BigEndian(buffer[at..], (ulong)length);
            BinaryPrimitives.WriteUInt64BigEndian(buffer[(at + 8)..], flags);
        }
        else
        {
            // A compact request's length is 32-bit, so no extent inside it is longer.
            BinaryPrimitives.WriteUInt32BigEndian(buffer[at..], (uint)length);
            BinaryPrimitives.WriteUInt32BigEndian(buffer[(at + 4)..], flags);
        }
    }

    /// <summary>Splits a finished structured read around holes, so zero ranges go out as hole chunks.</summary>
    internal static void PlanReadChunks(NbdExportEntry export, NbdRequest request)
    {
        IAllocationSource? allocation = export.Disk.Allocation;
        request.ChunkCount = 0;
        if (allocation is null)
        {
            return;
        }

        long start = (long)request.Offset;
        int total = request.BufferLength;
        int position = 0;
        int count = 0;
        NbdReadChunk[] chunks = request.Chunks;
        int blockMask = export.Disk.Limits.LogicalBlockSize - 1;
        while (position < total)
        {
            // Planned on the read's completion path, which must not wait: a source that cannot answer at once
            // gets the read sent as one data chunk.
            ValueTask<AllocationExtent> pending = allocation.GetExtentAsync(start + position, total - position);
            if (!pending.IsCompletedSuccessfully)
            {
                _ = pending.AsTask().ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
                request.ChunkCount = 0;
                return;
            }

            AllocationExtent extent = pending.Result;
            bool allocated = extent.Allocated;
            int length = (int)Math.Clamp(extent.Length, 1, total - position);
            if (!allocated && (length & blockMask) != 0)
            {
                allocated = true;
            }

            bool hole = !allocated;
            if (count > 0 && chunks[count - 1].IsHole == hole)
            {
                chunks[count - 1] = chunks[count - 1] with { Length = chunks[count - 1].Length + length };
            }
            else
            {
                if (count == chunks.Length)
                {
                    // Too fragmented to be worth it: send one data chunk.
                    request.ChunkCount = 0;
                    return;
                }

                chunks[count++] = new NbdReadChunk(position, length, hole);
            }

            position += length;
        }

        request.ChunkCount = count == 1 && !chunks[0].IsHole ? 0 : count;
    }
}
