using System.Buffers.Binary;

namespace Blkmq.Simulation.Tests.Infrastructure;

/// <summary>
/// What a write puts in a sector: its write id, the sector number and a pattern derived from both, so a read tells
/// exactly which write's data a sector holds, and a sector holding anything else (garbage, another sector's data,
/// a mix) is recognised. Write id 0 is all zeroes (never written, discarded, zeroed).
/// </summary>
internal static class SectorPattern
{
    public const long Garbage = -1;

    public static void Fill(Span<byte> sector, long id, long sectorNumber)
    {
        if (id == 0)
        {
            sector.Clear();
            return;
        }

        BinaryPrimitives.WriteInt64LittleEndian(sector, id);
        BinaryPrimitives.WriteInt64LittleEndian(sector[8..], sectorNumber);
        ulong x = Seed(id, sectorNumber);
        for (int i = 16; i < sector.Length; i += 8)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(sector[i..], x);
            x = (x * 6364136223846793005UL) + 1442695040888963407UL;
        }
    }

    /// <summary>Returns the write id the sector holds, or <see cref="Garbage"/>.</summary>
    public static long Decode(ReadOnlySpan<byte> sector, long sectorNumber)
    {
        long id = BinaryPrimitives.ReadInt64LittleEndian(sector);
        if (id == 0)
        {
            return sector.IndexOfAnyExcept((byte)0) < 0 ? 0 : Garbage;
        }

        if (id < 0 || BinaryPrimitives.ReadInt64LittleEndian(sector[8..]) != sectorNumber)
        {
            return Garbage;
        }

        ulong x = Seed(id, sectorNumber);
        for (int i = 16; i < sector.Length; i += 8)
        {
            if (BinaryPrimitives.ReadUInt64LittleEndian(sector[i..]) != x)
            {
                return Garbage;
            }

            x = (x * 6364136223846793005UL) + 1442695040888963407UL;
        }

        return id;
    }

    private static ulong Seed(long id, long sectorNumber) => ((ulong)id * 0x9E3779B97F4A7C15UL) ^ ((ulong)sectorNumber * 0xC2B2AE3D27D4EB4FUL) ^ 0x5555;
}
