namespace Blkmq.Filters.Tests;

/// <summary>
/// Tests that measure the whole process (<see cref="GC.GetTotalAllocatedBytes(bool)"/>) run in this collection, alone:
/// IO of tests running beside them would count as theirs.
/// </summary>
[CollectionDefinition(nameof(ProcessWideMeasurements), DisableParallelization = true)]
public sealed class ProcessWideMeasurements
{
}
