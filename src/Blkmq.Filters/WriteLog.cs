using System.Buffers.Binary;
using System.Text;

namespace Blkmq.Filters;

/// <summary>
/// The on-disk format of a write log (dm-log-writes' idea, our layout), written by <see cref="LogWritesFilter"/> and
/// read by <see cref="WriteLogReader"/>. A 32-byte file header (<c>BLKMQLOG</c>, version, logical block size,
/// capacity), then entries in the order the IO completed, each a 40-byte header followed by its payload: the data of a
/// write, the name of a mark, nothing for discard, write zeroes and flush. All integers little-endian.
/// </summary>
internal static class WriteLog
{
    public const int FileHeaderSize = 32;
    public const int EntryHeaderSize = 40;
    public const uint EntryMagic = 0x45474F4C; // "LOGE"
    public const uint Version = 1;
    public static ReadOnlySpan<byte> FileMagic => "BLKMQLOG"u8;

    public static void WriteFileHeader(Span<byte> header, int blockSize, long capacity)
    {
        header.Clear();
        FileMagic.CopyTo(header);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], Version);
        BinaryPrimitives.WriteInt32LittleEndian(header[12..], blockSize);
        BinaryPrimitives.WriteInt64LittleEndian(header[16..], capacity);
    }

    public static void WriteEntryHeader(Span<byte> header, WriteLogKind kind, bool fua, long sequence, long offset, long length, int payload)
    {
        header.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(header, EntryMagic);
        header[4] = (byte)kind;
        header[5] = fua ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteInt32LittleEndian(header[8..], payload);
        BinaryPrimitives.WriteInt64LittleEndian(header[16..], sequence);
        BinaryPrimitives.WriteInt64LittleEndian(header[24..], offset);
        BinaryPrimitives.WriteInt64LittleEndian(header[32..], length);
    }

    public static byte[] MarkPayload(string name) => Encoding.UTF8.GetBytes(name);
}
