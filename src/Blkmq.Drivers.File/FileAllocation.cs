using System.Runtime.InteropServices;
using Blkmq.Drivers.File.Interop;

namespace Blkmq.Drivers.File;

/// <summary>
/// A regular file's allocation map from <c>lseek(SEEK_DATA)</c> / <c>lseek(SEEK_HOLE)</c>: holes of a sparse file are
/// holes of the disk, so NBD <c>base:allocation</c> reports them and <c>nbdcopy</c> skips them. Answers at once.
/// </summary>
/// <remarks>
/// The NBD server asks on every read (to send holes as hole chunks), so the common cases cost little: a file
/// without holes answers "data" with no system call, and a short range (a read's) that starts with data is
/// reported as data without <c>SEEK_HOLE</c>, whose cost on tmpfs grows with the data after the offset, not with the
/// range. "Data" for a range that holds a hole is always a correct answer: its bytes read as zeroes.
/// </remarks>
internal sealed class FileAllocation : IAllocationSource
{
    /// <summary>Ranges up to this long that start with data are reported as data without looking for a hole.</summary>
    internal const long ShortRange = 4 << 20;

    private readonly FileDisk _disk;

    public FileAllocation(FileDisk disk) => _disk = disk;

    /// <inheritdoc/>
    public ValueTask<AllocationExtent> GetExtentAsync(long offset, long maxLength, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(GetExtent(offset, maxLength));

    internal AllocationExtent GetExtent(long offset, long maxLength)
    {
        long end = Math.Min(_disk.Capacity, offset + maxLength);
        if (offset >= end)
        {
            return new AllocationExtent(true, Math.Max(1, maxLength));
        }

        if (!_disk.MayHaveHoles)
        {
            return new AllocationExtent(true, end - offset);
        }

        long data = Libc.Lseek(_disk.Fd, offset, Libc.SeekData);
        if (data < 0)
        {
            // ENXIO: no data at or after offset, the rest is a hole. Anything else: we cannot tell, so say data.
            return Marshal.GetLastPInvokeError() == Errno.ENXIO
                ? new AllocationExtent(false, end - offset)
                : new AllocationExtent(true, end - offset);
        }

        if (data > offset)
        {
            return new AllocationExtent(false, Math.Min(data, end) - offset);
        }

        if (end - offset <= ShortRange)
        {
            return new AllocationExtent(true, end - offset);
        }

        long hole = Libc.Lseek(_disk.Fd, offset, Libc.SeekHole);
        return hole < 0 || hole <= offset
            ? new AllocationExtent(true, end - offset)
            : new AllocationExtent(true, Math.Min(hole, end) - offset);
    }
}
