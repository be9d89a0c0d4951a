using Blkmq.Concurrency.Tests.Infrastructure;
using CsCheck;

namespace Blkmq.Concurrency.Tests;

/// <summary>
/// Waiters for a tag are served first come, first served, whichever threads free the tags and however many free
/// at once: after every round of concurrent frees, exactly a prefix of the queued waiters holds a tag, one tag
/// each, and nobody else got one.
/// </summary>
public sealed class TagBitmapFifoWakeTests
{
    [Fact]
    public void ConcurrentFrees_WakeWaitersInArrivalOrder()
    {
        Gen<(int Depth, int Waiters, int[] Rounds)> scenarios =
            from depth in Gen.Int[1, 8]
            from waiters in Gen.Int[1, 24]
            from rounds in Gen.Int[1, 4].Array[64]
            select (depth, waiters, rounds);

        scenarios.Sample(static s => Run(s.Depth, s.Waiters, s.Rounds), iter: 300, threads: 1);
    }

    private static void Run(int depth, int waiterCount, int[] rounds)
    {
        var tags = new TagBitmap(depth);
        var held = new Queue<int>();
        for (int i = 0; i < depth; i++)
        {
            Assert.True(tags.TryAllocate(out int tag));
            held.Enqueue(tag);
        }

        Assert.False(tags.TryAllocate(out _));

        // Queued one by one, so the arrival order is known.
        var waiters = new ValueTask<int>[waiterCount];
        for (int i = 0; i < waiterCount; i++)
        {
            ValueTask<int> waiter = tags.AllocateAsync();
            Assert.False(waiter.IsCompleted);
            waiters[i] = waiter;
        }

        int served = 0;
        for (int round = 0; served < waiterCount; round++)
        {
            int frees = Math.Min(held.Count, rounds[round % rounds.Length]);
            var racers = new Action[frees];
            for (int i = 0; i < frees; i++)
            {
                int tag = held.Dequeue();
                racers[i] = () => tags.Free(tag);
            }

            Race.Run(racers);

            int expectedServed = Math.Min(waiterCount, served + frees);
            for (int i = 0; i < waiterCount; i++)
            {
                Assert.True(waiters[i].IsCompleted == i < expectedServed, $"after round {round}, waiter {i} completed = {waiters[i].IsCompleted}; expected the first {expectedServed} of {waiterCount} only");
            }

            for (int i = served; i < expectedServed; i++)
            {
                int tag = waiters[i].Result;
                Assert.DoesNotContain(tag, held);
                held.Enqueue(tag);
            }

            served = expectedServed;
            Assert.Equal(waiterCount - served, tags.WaiterCount);
        }

        // A round may free more tags than there were waiters left; those stay free.
        Assert.Equal(held.Count, tags.InUse);
        Assert.Equal(held.Count, held.Distinct().Count());
    }
}
