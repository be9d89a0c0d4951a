namespace Blkmq.Ublk;

/// <summary>
/// The zone operations of a zoned ublk device as statuses, for <see cref="UblkQueue"/>: the disk's zone calls throw
/// on failure, a queue commits -errno. Each is an async method: it allocates its state machine only when the disk does
/// not answer inline (zone management is rare).
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
}
