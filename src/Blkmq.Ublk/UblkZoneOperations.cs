namespace Blkmq.Ublk;

/// <summary>
/// The zone operations of a zoned ublk device as statuses, for <see cref="UblkQueue"/>: the disk's zone calls throw
/// on failure, a queue commits -errno. Each is an async method: it allocates its state machine only when the disk does
/// not answer inline (zone management is rare; zone append of a disk that completes elsewhere pays that per IO).
/// </summary>
internal static class UblkZoneOperations
{
    /// <summary>Opens, closes, finishes or resets a zone, or resets all.</summary>
    /// <returns>Ok, the disk's status, or <see cref="BlockStatus.Invalid"/> when the offset is not a zone start.</returns>
    public static async ValueTask<BlockStatus> ManageStatusAsync(BlockDevice device, RequestOp operation, long zoneOffset)
    {
        try
        {
            await device.ZoneManagementAsync(operation, zoneOffset).ConfigureAwait(false);
            return BlockStatus.Ok;
        }
        catch (BlockIOException ex)
        {
            return ex.Status;
        }
        catch (ArgumentException)
        {
            return BlockStatus.Invalid;
        }
    }

    /// <summary>
    /// Appends <paramref name="data"/> to the zone at <paramref name="zoneOffset"/>; the sector it went to is stored in
    /// <paramref name="appendSectors"/>[<paramref name="tag"/>] before the task completes, for the commit to carry
    /// (<c>zone_append_lba</c>).
    /// </summary>
    /// <returns>Ok, the disk's status, or <see cref="BlockStatus.Invalid"/> (not a zone start, or too long).</returns>
    public static async ValueTask<BlockStatus> AppendStatusAsync(BlockDevice device, ulong[] appendSectors, int tag, long zoneOffset, ReadOnlyMemory<byte> data, RequestFlags flags)
    {
        try
        {
            long position = await device.ZoneAppendAsync(zoneOffset, data, flags).ConfigureAwait(false);
            appendSectors[tag] = (ulong)position >> 9;
            return BlockStatus.Ok;
        }
        catch (BlockIOException ex)
        {
            return ex.Status;
        }
        catch (ArgumentException)
        {
            return BlockStatus.Invalid;
        }
    }
}
