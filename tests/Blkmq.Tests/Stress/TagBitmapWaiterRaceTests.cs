namespace Blkmq.Tests.Stress;

/// <summary>
/// The history CsCheck's linearizability test found (depth 4, all tags held; one thread <c>AllocateAsync</c>, another
/// <c>Free</c>, <c>Free</c>, <c>TryAllocate</c>): both frees ran after the waiter's fast path missed and before it was
/// queued, so neither woke anyone; then <c>TryAllocate</c>, seeing a queued waiter, failed while two tags were free,
/// and after the waiter took one, a tag stayed free with a caller turned away. Two tags freed for two takers: both
/// must get one.
/// </summary>
public sealed class TagBitmapWaiterRaceTests
{
    private const int Depth = 4;

    [Fact]
    public async Task FreesBeforeTheWaiterIsQueued_TryAllocateInTheWindow_BothGetATag()
    {
        var tags = new TagBitmap(Depth);
        for (int i = 0; i < Depth; i++)
        {
            Assert.True(tags.TryAllocate(out _));
        }

        bool took = false;
        int tag = -1;
        tags.TestHookAfterMiss = () =>
        {
            tags.Free(0);
            tags.Free(1);
        };
        tags.TestHookAfterQueued = () => took = tags.TryAllocate(out tag);

        int waited = await tags.AllocateAsync();

        Assert.True(took, "TryAllocate failed with a tag free");
        Assert.NotEqual(waited, tag);
        Assert.Equal(Depth, tags.InUse);
        Assert.Equal(0, tags.WaiterCount);
    }

    [Fact]
    public async Task TryAllocate_WithAWaiterQueuedAndOneTagFree_LeavesTheTagToTheWaiter()
    {
        var tags = new TagBitmap(2);
        Assert.True(tags.TryAllocate(out int first));
        Assert.True(tags.TryAllocate(out _));
        bool took = true;
        tags.TestHookAfterMiss = () => tags.Free(first);
        tags.TestHookAfterQueued = () => took = tags.TryAllocate(out _);

        // The waiter was queued before the caller came: it gets the one free tag, the caller none.
        Assert.Equal(first, await tags.AllocateAsync());
        Assert.False(took);
        Assert.Equal(0, tags.WaiterCount);
        Assert.Equal(2, tags.InUse);
    }

    [Fact]
    public async Task ManyRounds_AWaiterAndATryAllocateRacingTwoFrees_BothGetATag()
    {
        var tags = new TagBitmap(Depth);
        using var start = new Barrier(2);
        for (int round = 0; round < 2_000; round++)
        {
            for (int i = 0; i < Depth; i++)
            {
                Assert.True(tags.TryAllocate(out _));
            }

            ValueTask<int> waiting = default;
            var waiter = new Thread(() =>
            {
                start.SignalAndWait();
                waiting = tags.AllocateAsync();
            });
            waiter.Start();
            start.SignalAndWait();
            tags.Free(0);
            tags.Free(1);
            bool took = tags.TryAllocate(out int tag);
            waiter.Join();
            int waited = await waiting;
            Assert.True(took, $"round {round}: TryAllocate failed with a tag free");

            tags.Free(waited);
            tags.Free(tag);
            tags.Free(2);
            tags.Free(3);
            Assert.Equal(0, tags.InUse);
        }
    }
}
