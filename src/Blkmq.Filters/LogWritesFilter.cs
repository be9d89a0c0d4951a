namespace Blkmq.Filters;

/// <summary>
/// dm-log-writes: every write (with its data), discard, write zeroes and flush that completed, and every FUA flag, goes
/// to an append-only log (<see cref="WriteLog"/>) in completion order, with named marks in between
/// (<c>blkmq ctl mark NAME</c>); <c>blkmq replay</c> rebuilds the disk as it was at any mark or flush. The filter disk
/// always has a write cache and FUA, so file systems send their flushes and the log records them; they are forwarded.
/// </summary>
internal sealed class LogWritesFilter : BlockFilter
{
    private readonly Lock _lock = new();
    private readonly FileStream _log;
    private readonly byte[] _header = new byte[WriteLog.EntryHeaderSize];
    private readonly string _path;
    private readonly HashSet<string> _marks = new(StringComparer.Ordinal);
    private long _sequence;
    private bool _closed;

    public LogWritesFilter(FilterArguments arguments, Disk lower)
    {
        _path = arguments.GetString("file") ?? throw new FormatException("filter 'log-writes': file=LOG is required.");
        _log = OpenLog(_path);
        Span<byte> header = stackalloc byte[WriteLog.FileHeaderSize];
        WriteLog.WriteFileHeader(header, lower.Limits.LogicalBlockSize, lower.Capacity);
        try
        {
            _log.Write(header);
            _log.Flush();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A file that takes no writes (/proc, a full file system): one line naming it. Disposing flushes the
            // header again and fails again, after closing the file.
            try
            {
                _log.Dispose();
            }
            catch (IOException)
            {
            }

            throw new IOException($"filter 'log-writes': file={_path}: {ex.Message}", ex);
        }
    }

    /// <inheritdoc/>
    public override string Name => "log-writes";

    /// <inheritdoc/>
    public override string Parameters => "file=" + _path;

    /// <summary>Gets the number of entries logged.</summary>
    public long Entries => Volatile.Read(ref _sequence);

    /// <inheritdoc/>
    public override DiskOptions Shape(Disk lower, string name) => PassThroughShape(lower, name) with { WriteCache = true, Fua = true };

    /// <inheritdoc/>
    public override void OnForwarded(FilterIo io, BlockStatus status)
    {
        if (status == BlockStatus.Ok)
        {
            // Logged before the upper IO ends, while its buffer is still the IO's: a client that saw the write done
            // finds it in the log, before any later flush or mark.
            switch (io.Op)
            {
                case RequestOp.Write:
                    Append(WriteLogKind.Write, (io.Flags & RequestFlags.Fua) != 0, io.Offset, io.Length, io.Buffer.Span);
                    break;
                case RequestOp.Discard:
                    Append(WriteLogKind.Discard, false, io.Offset, io.Length, default);
                    break;
                case RequestOp.WriteZeroes:
                    Append(WriteLogKind.WriteZeroes, false, io.Offset, io.Length, default);
                    break;
                case RequestOp.Flush:
                    Append(WriteLogKind.Flush, false, 0, 0, default);
                    break;
                default:
                    break;
            }
        }

        io.End(status);
    }

    /// <summary>Appends a named mark; <c>blkmq replay --to NAME</c> stops after it.</summary>
    /// <param name="name">The mark's name, not empty and not already in this log.</param>
    /// <returns>The mark's sequence number.</returns>
    /// <exception cref="InvalidOperationException">The name is empty or taken, or the log is closed; one line.</exception>
    public long Mark(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (string.IsNullOrWhiteSpace(name))
        {
            throw new InvalidOperationException("a mark needs a name");
        }

        lock (_lock)
        {
            if (!_closed && !_marks.Add(name))
            {
                throw new InvalidOperationException($"mark '{name}' already exists in this log");
            }

            return Append(WriteLogKind.Mark, false, 0, 0, WriteLog.MarkPayload(name));
        }
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        lock (_lock)
        {
            _closed = true;
            _log.Dispose();
        }

        base.Dispose(disposing);
    }

    /// <summary>
    /// Opens the log for writing from its start: a new file, an empty one, or an earlier write log (a rerun replaces
    /// it). Any other file is refused before a byte of it changes.
    /// </summary>
    /// <exception cref="IOException">The file cannot be opened or is not a write log; one line naming it.</exception>
    private static FileStream OpenLog(string path)
    {
        FileStream log;
        try
        {
            log = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, 1 << 20);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"filter 'log-writes': file={path}: {ex.Message}", ex);
        }

        bool foreign;
        try
        {
            Span<byte> magic = stackalloc byte[WriteLog.FileMagic.Length];
            foreign = log.Length > 0
                && (log.ReadAtLeast(magic, magic.Length, throwOnEndOfStream: false) != magic.Length || !magic.SequenceEqual(WriteLog.FileMagic));
            if (!foreign)
            {
                log.SetLength(0);
                log.Position = 0;
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            log.Dispose();
            throw new IOException($"filter 'log-writes': file={path}: {ex.Message}", ex);
        }

        if (foreign)
        {
            log.Dispose();
            throw new IOException($"filter 'log-writes': file={path} exists and is not a blkmq write log; give a new path (an earlier log is replaced, any other file is left alone).");
        }

        return log;
    }

    private long Append(WriteLogKind kind, bool fua, long offset, long length, ReadOnlySpan<byte> payload)
    {
        lock (_lock)
        {
            if (_closed)
            {
                throw new InvalidOperationException("The log is closed.");
            }

            long sequence = ++_sequence;
            WriteLog.WriteEntryHeader(_header, kind, fua, sequence, offset, length, payload.Length);
            _log.Write(_header);
            _log.Write(payload);
            if (kind is WriteLogKind.Flush or WriteLogKind.Mark || fua)
            {
                // To the OS at every flush point and mark, so a crash of the server keeps what was durable.
                _log.Flush();
            }

            return sequence;
        }
    }
}
