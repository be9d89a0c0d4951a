using System.Buffers.Binary;

namespace Blkmq.Filters;

/// <summary>Reads an MBR (primary partitions 1-4, logical ones from 5) or GPT partition table from a disk, to find one partition's byte range.</summary>
internal static class PartitionTable
{
    /// <summary>Finds partition <paramref name="number"/> (1-based) of <paramref name="disk"/>.</summary>
    /// <exception cref="FormatException">No partition table, or no such partition; one line saying which.</exception>
    public static (long Start, long Length) Find(Disk disk, int number)
    {
        int block = disk.Limits.LogicalBlockSize;
        BlockDevice device = disk.OpenDevice();
        byte[] mbr = new byte[block];
        device.ReadAsync(0, mbr).AsTask().GetAwaiter().GetResult();
        if (mbr[510] != 0x55 || mbr[511] != 0xAA)
        {
            throw new FormatException("filter 'partition': the disk has no MBR or GPT partition table.");
        }

        bool gpt = false;
        for (int i = 0; i < 4; i++)
        {
            gpt |= ReadEntry(mbr, i).Type == 0xEE;
        }

        return gpt ? FindGpt(device, block, number) : FindMbr(device, mbr, block, number, disk.Capacity);
    }

    // MBR sector numbers count logical blocks (512 bytes, or 4096 on a 4Kn disk), as Linux reads them.
    private static (long, long) FindMbr(BlockDevice device, byte[] mbr, int block, int number, long capacity)
    {
        if (number > 4)
        {
            return FindLogical(device, mbr, block, number, capacity);
        }

        (byte type, long first, long sectors) = ReadEntry(mbr, number - 1);
        if (type == 0 || sectors == 0)
        {
            throw new FormatException($"filter 'partition': the MBR has no partition {number}.");
        }

        if (IsExtended(type))
        {
            throw new FormatException($"filter 'partition': partition {number} is the extended partition; its logical partitions are numbered from 5.");
        }

        return Check(first * block, sectors * block, block, capacity, number);
    }

    /// <summary>
    /// Logical partition <paramref name="number"/> (5, 6, ...): the chain of extended boot records in the extended
    /// partition, each with one logical partition (its start relative to that record) and a link to the next record
    /// (relative to the extended partition's start), numbered in chain order as Linux does.
    /// </summary>
    private static (long, long) FindLogical(BlockDevice device, byte[] mbr, int block, int number, long capacity)
    {
        long extendedStart = -1;
        for (int i = 0; i < 4 && extendedStart < 0; i++)
        {
            (byte type, long first, long sectors) = ReadEntry(mbr, i);
            if (IsExtended(type) && sectors != 0)
            {
                extendedStart = first;
            }
        }

        if (extendedStart < 0)
        {
            throw new FormatException($"filter 'partition': the MBR has no partition {number} (no extended partition, so no logical ones).");
        }

        byte[] record = new byte[block];
        long current = extendedStart;
        int found = 0;
        var seen = new HashSet<long>();
        while (seen.Add(current) && (current + 1) * block <= capacity)
        {
            device.ReadAsync(current * block, record).AsTask().GetAwaiter().GetResult();
            if (record[510] != 0x55 || record[511] != 0xAA)
            {
                throw new FormatException($"filter 'partition': the extended boot record at sector {current} has no signature.");
            }

            (byte type, long first, long sectors) = ReadEntry(record, 0);
            if (type != 0 && sectors != 0 && !IsExtended(type) && 5 + found++ == number)
            {
                return Check((current + first) * block, sectors * block, block, capacity, number);
            }

            (byte nextType, long next, _) = ReadEntry(record, 1);
            if (!IsExtended(nextType) || next == 0)
            {
                break;
            }

            current = extendedStart + next;
        }

        throw new FormatException($"filter 'partition': the MBR has no partition {number} ({found} logical partitions, 5 to {4 + found}).");
    }

    private static (byte Type, long First, long Sectors) ReadEntry(byte[] table, int index)
    {
        int entry = 446 + (index * 16);
        return (
            table[entry + 4],
            BinaryPrimitives.ReadUInt32LittleEndian(table.AsSpan(entry + 8)),
            BinaryPrimitives.ReadUInt32LittleEndian(table.AsSpan(entry + 12)));
    }

    private static bool IsExtended(byte type) => type is 0x05 or 0x0F or 0x85;

    private static (long, long) FindGpt(BlockDevice device, int block, int number)
    {
        byte[] header = new byte[block];
        device.ReadAsync(block, header).AsTask().GetAwaiter().GetResult();
        if (!header.AsSpan(0, 8).SequenceEqual("EFI PART"u8))
        {
            throw new FormatException("filter 'partition': a protective MBR but no GPT header.");
        }

        long entriesLba = BinaryPrimitives.ReadInt64LittleEndian(header.AsSpan(72));
        uint count = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(80));
        uint size = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(84));
        if (number > count || size < 128 || size > 4096)
        {
            throw new FormatException($"filter 'partition': the GPT has no partition {number} ({count} entries).");
        }

        long entryOffset = (entriesLba * block) + ((number - 1) * (long)size);
        byte[] entries = new byte[block];
        long aligned = entryOffset / block * block;
        device.ReadAsync(aligned, entries).AsTask().GetAwaiter().GetResult();
        ReadOnlySpan<byte> entry = entries.AsSpan((int)(entryOffset - aligned));
        long first = BinaryPrimitives.ReadInt64LittleEndian(entry[32..]);
        long last = BinaryPrimitives.ReadInt64LittleEndian(entry[40..]);
        if (entry[..16].IndexOfAnyExcept((byte)0) < 0 || last < first)
        {
            throw new FormatException($"filter 'partition': the GPT has no partition {number}.");
        }

        return Check(first * block, (last - first + 1) * block, block, device.Size, number);
    }

    private static (long, long) Check(long start, long length, int block, long capacity, int number)
    {
        if (start % block != 0 || length % block != 0 || start + length > capacity)
        {
            throw new FormatException($"filter 'partition': partition {number} ({start}+{length}) does not fit the disk ({capacity} bytes, {block}-byte blocks).");
        }

        return (start, length);
    }
}
