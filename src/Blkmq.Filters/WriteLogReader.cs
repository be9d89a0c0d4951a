using System.Buffers.Binary;
using System.Text;

namespace Blkmq.Filters;

/// <summary>Reads a write log (<see cref="WriteLog"/>) entry by entry, and replays it onto an image.</summary>
internal sealed class WriteLogReader : IDisposable
{
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

        return new WriteLogReader(stream, BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(12)), BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(16)));
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
                BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(24)),
                BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(32)),
                payloadPosition,
                payload,
                name));
            position = payloadPosition + payload;
        }

        TornBytes = length - position;
        return entries;
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
