using System.Runtime.InteropServices;
using Blkmq.Drivers.Rbd.Interop;

namespace Blkmq.Drivers.Rbd;

/// <summary>
/// An RBD image's allocation map from <c>rbd_diff_iterate2</c> (whole objects, against the image's creation): an
/// object that does not exist is a hole, so NBD <c>base:allocation</c> reports it and <c>nbdcopy</c> skips it. With
/// the object map (and fast-diff) librbd answers from memory; without it, by listing the objects in the range.
/// </summary>
internal sealed unsafe class RbdAllocation : IAllocationSource
{
    // Stops rbd_diff_iterate2 once the answer is known (the callback's negative return ends the walk with it).
    private const int Stop = -Errno.ECANCELED;

    private readonly RbdImage _image;

    public RbdAllocation(RbdImage image) => _image = image;

    /// <inheritdoc/>
    public ValueTask<AllocationExtent> GetExtentAsync(long offset, long maxLength, CancellationToken cancellationToken = default) =>
        ValueTask.FromResult(GetExtent(offset, maxLength));

    internal AllocationExtent GetExtent(long offset, long maxLength)
    {
        long end = Math.Min(_image.Size, offset + maxLength);
        if (offset >= end)
        {
            return new AllocationExtent(true, Math.Max(1, maxLength));
        }

        var walk = new Walk { Offset = offset, End = end, DataStart = -1, DataEnd = -1 };
        int r = Librbd.DiffIterate2(_image.Handle, null, (ulong)offset, (ulong)(end - offset), 1, 1, &OnExtent, &walk);
        if (r < 0 && r != Stop)
        {
            // Cannot tell: say data, which is always safe.
            return new AllocationExtent(true, end - offset);
        }

        if (walk.DataStart < 0)
        {
            return new AllocationExtent(false, end - offset);
        }

        if (walk.DataStart > offset)
        {
            return new AllocationExtent(false, walk.DataStart - offset);
        }

        return new AllocationExtent(true, Math.Min(walk.DataEnd, end) - offset);
    }

    [UnmanagedCallersOnly(CallConvs = [typeof(System.Runtime.CompilerServices.CallConvCdecl)])]
    private static int OnExtent(ulong offset, nuint length, int exists, void* arg)
    {
        var walk = (Walk*)arg;
        long start = Math.Max((long)offset, walk->Offset);
        long stop = Math.Min((long)offset + (long)length, walk->End);
        if (exists == 0 || stop <= start)
        {
            return walk->DataStart < 0 ? 0 : Stop;
        }

        if (walk->DataStart < 0)
        {
            walk->DataStart = start;
            walk->DataEnd = stop;
            return 0;
        }

        if (start <= walk->DataEnd)
        {
            // Extents arrive in order: a contiguous one lengthens the run.
            walk->DataEnd = Math.Max(walk->DataEnd, stop);
            return 0;
        }

        return Stop;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Walk
    {
        public long Offset;
        public long End;
        public long DataStart;
        public long DataEnd;
    }
}
