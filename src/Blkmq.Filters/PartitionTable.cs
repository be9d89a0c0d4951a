using System.Buffers.Binary;

namespace Blkmq.Filters;

/// <summary>Reads an MBR or GPT partition table from a disk, to find one partition's byte range.</summary>
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
            gpt |= mbr[446 + (i * 16) + 4] == 0xEE;
        }

        return gpt ? FindGpt(device, block, number) : FindMbr(mbr, block, number, disk.Capacity);
    }

    private static (long, long) FindMbr(byte[] mbr, int block, int number, long capacity)
    {
        if (number > 4)
        {
            throw new FormatException($"filter 'partition': partition={number}: only the 4 primary partitions of an MBR are supported.");
        }

        int entry = 446 + ((number - 1) * 16);
        byte type = mbr[entry + 4];
        long first = BinaryPrimitives.ReadUInt32LittleEndian(mbr.AsSpan(entry + 8));
        long sectors = BinaryPrimitives.ReadUInt32LittleEndian(mbr.AsSpan(entry + 12));
        if (type == 0 || sectors == 0)
        {
            throw new FormatException($"filter 'partition': the MBR has no partition {number}.");
        }

        if (type is 0x05 or 0x0F or 0x85)
        {
            throw new FormatException($"filter 'partition': partition {number} is an extended partition; logical partitions are not supported.");
        }

        return Check(first * 512, sectors * 512, block, capacity, number);
    }

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
