using System.Buffers.Binary;
using System.Numerics;
using System.Text;

namespace Blkmq.Filters;

/// <summary>Reads a write log (<see cref="WriteLog"/>) entry by entry, and replays it onto an image.</summary>
internal sealed class WriteLogReader : IDisposable
{
    /// <summary>The largest capacity a log header may give (8 EiB would overflow offsets; no file system takes more than 8 PiB).</summary>
    private const long MaxCapacity = 1L << 53;

    /// <summary>The longest mark name a log may hold (names come from <c>blkmq ctl mark</c>, one line).</summary>
    private const int MaxMarkBytes = 64 * 1024;

    private readonly FileStream _stream;

    private WriteLogReader(FileStream stream, int blockSize, long capacity)
    {
        _stream = stream;
        BlockSize = blockSize;
        Capacity = capacity;
    }

    /// <summary>Gets the logged disk's logical block size.</summary>
    public int BlockSize { get; }

    /// <summary>Gets the logged disk's capacity in bytes.</summary>
    public long Capacity { get; }

    /// <summary>
    /// Gets how many bytes after the last whole entry <see cref="ReadEntries"/> ignored: a last entry torn by a crash of
    /// the server (or a copy cut short); 0 when the log ends at an entry's end.
    /// </summary>
    public long TornBytes { get; private set; }

    /// <summary>Opens a log.</summary>
    /// <exception cref="IOException">The file cannot be read or is no write log; one line.</exception>
    public static WriteLogReader Open(string path)
    {
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 20);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new IOException($"{path}: no such log.", ex);
        }

        byte[] header = new byte[WriteLog.FileHeaderSize];
        if (stream.ReadAtLeast(header, header.Length, throwOnEndOfStream: false) != header.Length || !header.AsSpan(0, 8).SequenceEqual(WriteLog.FileMagic))
        {
            stream.Dispose();
            throw new IOException($"{path}: not a blkmq write log (made by the log-writes filter).");
        }

        uint version = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(8));
        int blockSize = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(12));
        long capacity = BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(16));
        string? problem = version != WriteLog.Version ? $"version {version} (this blkmq reads version {WriteLog.Version})"
            : blockSize is < 512 or > 65536 || !BitOperations.IsPow2(blockSize) ? $"block size {blockSize}"
            : capacity <= 0 || capacity > MaxCapacity || capacity % blockSize != 0 ? $"capacity {capacity}"
            : null;
        if (problem is not null)
        {
            stream.Dispose();
            throw new IOException($"{path}: damaged write log header: {problem}.");
        }

        return new WriteLogReader(stream, blockSize, capacity);
    }

    /// <summary>Reads every entry's header (payloads are skipped; marks' names are read).</summary>
    /// <exception cref="IOException">The log is damaged before its end (a torn last entry is ignored; <see cref="TornBytes"/> says how much).</exception>
    public List<WriteLogEntry> ReadEntries()
    {
        var entries = new List<WriteLogEntry>();
        byte[] header = new byte[WriteLog.EntryHeaderSize];
        long position = WriteLog.FileHeaderSize;
        long length = _stream.Length;
        while (position + WriteLog.EntryHeaderSize <= length)
        {
            _stream.Position = position;
            _stream.ReadExactly(header);
            if (BinaryPrimitives.ReadUInt32LittleEndian(header) != WriteLog.EntryMagic)
            {
                throw new IOException($"write log: bad entry at byte {position}.");
            }

            var kind = (WriteLogKind)header[4];
            int payload = BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(8));
            long offset = BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(24));
            long range = BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(32));
            if (CheckEntry(kind, payload, offset, range) is { } problem)
            {
                throw new IOException($"write log: bad entry at byte {position}: {problem}.");
            }

            long payloadPosition = position + WriteLog.EntryHeaderSize;
            if (payloadPosition + payload > length)
            {
                break; // the last entry was torn by a crash of the server: everything before it stands
            }

            string? name = null;
            if (kind == WriteLogKind.Mark)
            {
                byte[] text = new byte[payload];
                _stream.ReadExactly(text);
                name = Encoding.UTF8.GetString(text);
            }

            entries.Add(new WriteLogEntry(
                kind,
                header[5] != 0,
                BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(16)),
                offset,
                range,
                payloadPosition,
                payload,
                name));
            position = payloadPosition + payload;
        }

        TornBytes = length - position;
        return entries;
    }

    /// <summary>Checks an entry's header against what the log-writes filter writes and the logged disk's size.</summary>
    /// <returns>Null when it is sound, else what is wrong with it.</returns>
    private string? CheckEntry(WriteLogKind kind, int payload, long offset, long length)
    {
        switch (kind)
        {
            case WriteLogKind.Write:
            case WriteLogKind.Discard:
            case WriteLogKind.WriteZeroes:
                if (kind == WriteLogKind.Write ? payload != length : payload != 0)
                {
                    return $"{kind} of {length} bytes with a payload of {payload}";
                }

                return length <= 0 || offset < 0 || offset > Capacity - length || (offset | length) % 512 != 0
                    ? $"{kind} of {length} bytes at {offset} on a disk of {Capacity} bytes"
                    : null;
            case WriteLogKind.Flush:
                return payload != 0 || offset != 0 || length != 0 ? $"flush with a payload of {payload}" : null;
            case WriteLogKind.Mark:
                return payload is <= 0 or > MaxMarkBytes ? $"mark name of {payload} bytes" : null;
            default:
                return $"unknown kind {(byte)kind}";
        }
    }

    /// <summary>Applies one entry's effect on the disk to <paramref name="image"/>.</summary>
    public void Apply(WriteLogEntry entry, Microsoft.Win32.SafeHandles.SafeFileHandle image, byte[] scratch)
    {
        switch (entry.Kind)
        {
            case WriteLogKind.Write:
                for (long done = 0; done < entry.Length;)
                {
                    int part = (int)Math.Min(scratch.Length, entry.Length - done);
                    _stream.Position = entry.PayloadPosition + done;
                    _stream.ReadExactly(scratch, 0, part);
                    RandomAccess.Write(image, scratch.AsSpan(0, part), entry.Offset + done);
                    done += part;
                }

                break;
            case WriteLogKind.Discard:
            case WriteLogKind.WriteZeroes:
                byte[] zeroes = new byte[Math.Min(entry.Length, 1 << 20)];
                for (long done = 0; done < entry.Length;)
                {
                    int part = (int)Math.Min(zeroes.Length, entry.Length - done);
                    RandomAccess.Write(image, zeroes.AsSpan(0, part), entry.Offset + done);
                    done += part;
                }

                break;
            default:
                break;
        }
    }

    /// <inheritdoc/>
    public void Dispose() => _stream.Dispose();
}
