using System.Runtime.InteropServices;

namespace Blkmq;

/// <summary>One answer of <see cref="IAllocationSource.GetExtentAsync"/>: a run of bytes that is all data or all hole.</summary>
/// <param name="Allocated">True when the run may hold data; false for a hole that reads as zeroes.</param>
/// <param name="Length">The run's length in bytes, at least one.</param>
[StructLayout(LayoutKind.Auto)]
public readonly record struct AllocationExtent(bool Allocated, long Length);
