namespace Blkmq;

/// <summary>
/// Optional knowledge of which ranges of a disk hold data, implemented by a driver's per-disk data type when
/// the driver can tell (a sparse memory disk can; a pass-through disk may not). Front ends use it for NBD
/// <c>base:allocation</c> block status and FUSE <c>lseek(SEEK_DATA/SEEK_HOLE)</c>.
/// </summary>
/// <remarks>
/// A hole is a range the disk keeps no data for. Front ends zero their read buffers before the IO, so their clients
/// read a hole as zeroes even from a disk that leaves read buffers untouched (null_blk without memory backing, which
/// therefore reports itself as one hole). Reads of holes still go to the driver: its delays, errors and accounting
/// apply to them like to any read.
/// </remarks>
public interface IAllocationSource
{
    /// <summary>
    /// Describes the extent starting at <paramref name="offset"/>: whether it is allocated, and how long the run
    /// of the same kind is (at least one byte, at most <paramref name="maxLength"/>).
    /// </summary>
    /// <param name="offset">A byte offset inside the disk.</param>
    /// <param name="maxLength">The most bytes to describe.</param>
    /// <param name="length">How many bytes from <paramref name="offset"/> share the answer.</param>
    /// <returns>True when the extent is allocated (may hold data); false for a hole that reads as zeroes.</returns>
    bool GetExtent(long offset, long maxLength, out long length);
}
