using System.Buffers.Binary;

namespace Blkmq.Tests.Infrastructure;

/// <summary>
/// Data that says where it came from: every 8-byte word encodes the IO that wrote it and the byte offset it was
/// written to, so a read that returns another IO's bytes, or the right bytes at the wrong place, is caught.
/// </summary>
internal static class IoPattern
{
    /// <summary>Fills <paramref name="buffer"/> with the pattern of IO <paramref name="ioId"/> written at <paramref name="offset"/>.</summary>
    public static void Fill(Span<byte> buffer, long ioId, long offset)
    {
        int i = 0;
        for (; i + 8 <= buffer.Length; i += 8)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(buffer[i..], Word(ioId, offset + i));
        }

        for (; i < buffer.Length; i++)
        {
            buffer[i] = (byte)Word(ioId, offset + i);
        }
    }

    /// <summary>Returns a new buffer holding the pattern of IO <paramref name="ioId"/> written at <paramref name="offset"/>.</summary>
    public static byte[] Create(int length, long ioId, long offset)
    {
        byte[] buffer = new byte[length];
        Fill(buffer, ioId, offset);
        return buffer;
    }

    /// <summary>Fails with the first differing byte offset when <paramref name="actual"/> differs from <paramref name="expected"/>.</summary>
    public static void AssertSame(ReadOnlySpan<byte> expected, ReadOnlySpan<byte> actual, long diskOffset, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        int mismatch = expected.CommonPrefixLength(actual);
        if (mismatch != expected.Length)
        {
            Assert.Fail($"{what}: byte at disk offset {diskOffset + mismatch} is 0x{actual[mismatch]:x2}, expected 0x{expected[mismatch]:x2} ({expected.Length} bytes compared from offset {diskOffset}).");
        }
    }

    // A 64-bit mix (splitmix64 finaliser) of the IO id and the offset, so that words of different IOs or offsets
    // differ with overwhelming probability.
    private static ulong Word(long ioId, long offset)
    {
        ulong z = ((ulong)ioId * 0x9E3779B97F4A7C15UL) ^ (ulong)offset;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
