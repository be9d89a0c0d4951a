namespace Blkmq;

/// <summary>
/// Optional knowledge of which ranges of a disk hold data, declared by the driver in
/// <see cref="DiskOptions.Allocation"/> when it can tell (a sparse memory disk can; a pass-through disk may not).
/// Front ends use it for NBD <c>base:allocation</c> block status and to send holes of a read as hole chunks.
/// </summary>
/// <remarks>
/// <para>A hole is a range the disk keeps no data for. Front ends zero their read buffers before the IO, so their
/// clients read a hole as zeroes even from a disk that leaves read buffers untouched (null_blk without memory
/// backing, which therefore reports itself as one hole). Reads of holes still go to the driver: its delays,
/// errors and accounting apply to them like to any read.</para>
/// <para>The answer may take a trip to a device or a network (an RBD object map, an NBD server's block status), so it
/// is asynchronous; a source that knows at once returns a completed <see cref="ValueTask{TResult}"/>, which costs
/// nothing. A front end that cannot wait where it asks (a read completion planning hole chunks) uses only answers
/// that completed synchronously.</para>
/// </remarks>
public interface IAllocationSource
{
    /// <summary>
    /// Describes the extent starting at <paramref name="offset"/>: whether it is allocated, and how long the run
    /// of the same kind is (at least one byte, at most <paramref name="maxLength"/>).
    /// </summary>
    /// <param name="offset">A byte offset inside the disk.</param>
    /// <param name="maxLength">The most bytes to describe.</param>
    /// <param name="cancellationToken">Stops waiting for a slow answer.</param>
    /// <returns>The extent.</returns>
    ValueTask<AllocationExtent> GetExtentAsync(long offset, long maxLength, CancellationToken cancellationToken = default);
}
