using Blkmq.Concurrency.Tests.Infrastructure;
using CsCheck;

namespace Blkmq.Concurrency.Tests;

/// <summary>
/// The tag bitmap under concurrent <c>TryAllocate</c>, <c>AllocateAsync</c> and <c>Free</c>: every parallel run must
/// end in a state some sequential order of the same operations reaches (linearizability, checked by CsCheck over all
/// interleavings), and in a consistent one: no tag with two owners, none lost, no waiter stranded while a tag is free.
/// </summary>
public sealed class TagBitmapLinearizabilityTests
{
    [Fact]
    public void ConcurrentAllocateAndFree_IsLinearizable_AndNeverDoubleOwnsOrLosesATag()
    {
        // Small depths make the bitmap run dry (waiters, the lost wake-up race); larger ones span several words.
        Gen<TagBitmapState> initial = Gen.Frequency(
            (3, Gen.Int[1, 4]),
            (1, Gen.Int[5, 130])).Select(static depth => new TagBitmapState(depth));

        initial.SampleParallel(
            [
                Gen.Operation<TagBitmapState>("TryAllocate", static s => s.TryAllocate()),
                Gen.Operation<TagBitmapState>("AllocateAsync", static s => s.AllocateAsync()),
                Gen.Operation<TagBitmapState>("Free", static s => s.Free()),
            ],
            equal: static (actual, sequential) => actual.Observe().IsConsistent && actual.Observe() == sequential.Observe(),
            maxSequentialOperations: 8,
            maxParallelOperations: 6,
            iter: 1000,
            print: static s => s.ToString());
    }
}
