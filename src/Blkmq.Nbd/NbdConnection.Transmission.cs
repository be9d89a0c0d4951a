using System.Buffers.Binary;
using System.IO;
using System.Net.Sockets;

using System.Runtime.CompilerServices;

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

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private string ReadLoop()
    {
        NbdExportEntry export = Export!;
        int headerLength = _extended ? NbdProtocol.ExtendedRequestHeaderLength : NbdProtocol.RequestHeaderLength;
        while (!_stopping)
        {
            if (Buffered < headerLength)
            {
                // Out of buffered requests: send what completed meanwhile before waiting for the client.
                TryDrainInline();
            }

            if (Buffered < headerLength && !Fill(headerLength))
            {
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

            ReadOnlySpan<byte> header = _readBuffer.AsSpan(_readStart, headerLength);
            uint magic = BinaryPrimitives.ReadUInt32BigEndian(header);
            ushort flags = BinaryPrimitives.ReadUInt16BigEndian(header[4..]);
            ushort type = BinaryPrimitives.ReadUInt16BigEndian(header[6..]);
            ulong cookie = BinaryPrimitives.ReadUInt64BigEndian(header[8..]);
            ulong offset = BinaryPrimitives.ReadUInt64BigEndian(header[16..]);
            ulong length = _extended ? BinaryPrimitives.ReadUInt64BigEndian(header[24..]) : BinaryPrimitives.ReadUInt32BigEndian(header[24..]);
            _readStart += headerLength;
            if (magic != (_extended ? NbdProtocol.ExtendedRequestMagic : NbdProtocol.RequestMagic))
            {
                NbdLog.ProtocolViolation(_logger, Id, $"bad request magic 0x{magic:x8}");
                return "bad request magic";
            }

            if (type == NbdProtocol.CmdDisc)
            {
                return "client sent NBD_CMD_DISC";
            }

            // How many payload bytes follow the header.
            ulong payload = 0;
            if (_extended)
            {
                if ((flags & NbdProtocol.CmdFlagPayloadLength) != 0)
                {
                    payload = length;
                }
                else if (type == NbdProtocol.CmdWrite)
                {
                    NbdLog.ProtocolViolation(_logger, Id, "NBD_CMD_WRITE without NBD_CMD_FLAG_PAYLOAD_LEN under extended headers");
                    return "bad write header";
                }
            }
            else if (type == NbdProtocol.CmdWrite)
            {
                payload = length;
            }

            _largeWrites = type == NbdProtocol.CmdWrite && payload >= DirectPayloadThreshold;

            ulong effectLength = length;
            NbdErrorMessage message = NbdErrorMessage.None;
            uint error = 0;
            byte[]? statusIds = null;
            if (type == NbdProtocol.CmdBlockStatus && payload != 0)
            {
                // Extended headers' payload form: 64-bit effect length, then the context ids to answer.
                if (payload < 12 || payload > 8 + 64 || payload % 4 != 0)
                {
                    error = NbdProtocol.Einval;
                    message = NbdErrorMessage.BadPayload;
                }
                else
                {
                    statusIds = new byte[payload];
                    if (!ReadExact(statusIds))
                    {
                        NbdLog.ClientGone(_logger, Id, "a request payload");
                        return "truncated request payload";
                    }

                    effectLength = BinaryPrimitives.ReadUInt64BigEndian(statusIds);
                    payload = 0;
                    if (!ValidStatusIds(statusIds))
                    {
                        error = NbdProtocol.Einval;
                        message = NbdErrorMessage.BadPayload;
                    }
                }
            }

            if (error == 0)
            {
                error = Validate(export, type, flags, offset, effectLength, out message);
            }

            if (payload != 0 && (error != 0 || type != NbdProtocol.CmdWrite))
            {
                if (payload > NbdProtocol.MaxDiscardedPayload)
                {
                    NbdLog.PayloadTooLarge(_logger, Id, (long)payload);
                    return "payload too large";
                }

                if (!Skip((long)payload))
                {
                    NbdLog.ClientGone(_logger, Id, "a request payload");
                    return "truncated request payload";
                }

                if (error == 0)
                {
                    error = NbdProtocol.Einval;
                    message = NbdErrorMessage.BadPayload;
                }
            }

            long budget = error != 0 ? 0 : type switch
            {
                NbdProtocol.CmdRead or NbdProtocol.CmdWrite => (long)effectLength,
                NbdProtocol.CmdBlockStatus => BlockStatusBufferLength(flags),
                _ => 0,
            };
            NbdRequest? request = Acquire(budget);
            if (request is null)
            {
                return "server stopping";
            }

            request.Flags = flags;
            request.Type = type;
            request.Cookie = cookie;
            request.Offset = offset;
            request.Length = effectLength;
            if (error != 0)
            {
                request.Error = error;
                request.Message = message;
                t_executing = this;
                OnRequestCompleted(request);
                t_executing = null;
                continue;
            }

            bool payloadComplete = true;
            try
            {
                switch (type)
                {
                    case NbdProtocol.CmdWrite:
                        request.RentBuffer((int)effectLength);
                        if (Buffered < (int)effectLength)
                        {
                            // About to wait for the rest of the payload: send what completed inline first.
                            TryDrainInline();
                        }

                        payloadComplete = ReadExact(request.Buffer.AsSpan(0, (int)effectLength));
                        break;
                    case NbdProtocol.CmdRead:
                        // Pooled buffers hold earlier requests' data, maybe another client's; a driver that leaves read
                        // buffers untouched (null_blk without memory backing) must not hand that out. Holes are read
                        // too (the driver's delays and errors apply) and only sent as hole chunks.
                        Span<byte> readBuffer = request.RentBuffer((int)effectLength);
                        if (!export.Disk.ReadsFillBuffers)
                        {
                            readBuffer.Clear();
                        }

                        break;
                    case NbdProtocol.CmdBlockStatus:
                        FillBlockStatus(export, request, (int)budget);
                        break;
                }
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
        }

        return "server stopping";
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
                bool allocated = allocation.GetExtent(position, end - position, out length);
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
            bool allocated = allocation.GetExtent(start + position, total - position, out long extent);
            int length = (int)Math.Min(extent, total - position);
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
