using System.Runtime.InteropServices;

namespace Blkmq;

/// <summary>
/// One zone of a zoned block device, as reported by <see cref="BlockDevice.ReportZones(long, Span{BlockZone})"/>
/// (Linux <c>struct blk_zone</c>, in bytes rather than sectors like the rest of <see cref="BlockDevice"/>).
/// </summary>
/// <param name="Start">The byte offset of the zone's first block.</param>
/// <param name="Length">The zone's size in bytes (the last zone may be smaller than the others).</param>
/// <param name="Capacity">How many bytes from <paramref name="Start"/> can be written; at most <paramref name="Length"/>.</param>
/// <param name="WritePointer">
/// The byte offset the next write must start at: <paramref name="Start"/> + <paramref name="Length"/> for a
/// conventional zone, and -1 (Linux reports all ones) for a read-only or offline zone.
/// </param>
/// <param name="Type">The zone's type.</param>
/// <param name="Condition">The zone's state.</param>
[StructLayout(LayoutKind.Auto)]
public readonly record struct BlockZone(long Start, long Length, long Capacity, long WritePointer, ZoneType Type, ZoneCondition Condition);
