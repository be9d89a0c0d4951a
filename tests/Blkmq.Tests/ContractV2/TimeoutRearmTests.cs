using Blkmq.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace Blkmq.Tests.ContractV2;

/// <summary>
/// Defects 2 and 3: a request ended from inside its <c>Timeout</c> callback is published only when the callback has
/// returned, so the timeout handler never reads or rearms a slot that already serves the next IO (it used to write
/// the rearmed deadline into the next IO, and could read the freed slot's queue as null).
/// </summary>
public sealed class TimeoutRearmTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task EndThenResetTimer_InsideTimeout_DoesNotMoveTheNextIosDeadline()
    {
        var time = new FakeTimeProvider();
        using var nextDispatched = new ManualResetEventSlim();
        DateTimeOffset nextDispatchedAt = default;
        int timeouts = 0;
        await using TestRig rig = TestRig.Create(depth: 1, timeout: Timeout, time: time, configure: d =>
        {
            d.OnQueueRq = (rq, _) =>
            {
                if (rq.Sector != 0)
                {
                    nextDispatchedAt = time.GetUtcNow();
                    nextDispatched.Set();
                }

                d.Hold(rq);
                return BlockStatus.Ok;
            };
            d.OnTimeout = rq =>
            {
                if (Interlocked.Increment(ref timeouts) > 1)
                {
                    return TimeoutAction.Done;
                }

                // The driver ends the request; its submitter may free the slot and submit again at once...
                rq.End(BlockStatus.Ok);
                nextDispatched.Wait(TimeSpan.FromMilliseconds(500));

                // ...and a moment later the driver asks for more time for what it believes is still its request.
                time.AdjustTime(time.GetUtcNow() + TimeSpan.FromSeconds(5));
                return TimeoutAction.ResetTimer;
            };
        });

        ValueTask first = rig.Device.ReadAsync(0, new byte[512]);
        _ = await rig.Data.NextAsync();
        Task next = Task.Run(async () =>
        {
            await first;
            await rig.Device.ReadAsync(4096, new byte[512]);
        });

        // Past the first IO's deadline without firing the periodic scan; the scan runs on another thread.
        time.AdjustTime(time.GetUtcNow() + Timeout + TimeSpan.FromSeconds(1));
        await Task.Run(rig.TagSet.ScanTimeouts).Guard();
        Request<TestRequest> nextRequest = await rig.Data.NextAsync();

        // The next IO times out one timeout after its own dispatch, whatever the first IO's handler asked for.
        time.AdjustTime(nextDispatchedAt + Timeout + TimeSpan.FromSeconds(1));
        rig.TagSet.ScanTimeouts();

        Assert.Equal(2, Volatile.Read(ref timeouts));
        Assert.False(nextRequest.IsOwned);
        BlockIOException error = await Assert.ThrowsAsync<BlockIOException>(() => next.Guard());
        Assert.Equal(BlockStatus.Timeout, error.Status);
        rig.AssertIdle();
    }

    [Fact]
    public async Task CompleteInsideTimeout_IsFinishedAfterTheCallback_WithItsStatus()
    {
        await using TestRig rig = TestRig.Create(timeout: TimeSpan.FromSeconds(1), configure: d => d.OnTimeout = rq =>
        {
            rq.Complete(BlockStatus.NoSpace);
            return TimeoutAction.ResetTimer;
        });
        ValueTask<BlockStatus> read = rig.Device.ReadStatusAsync(0, new byte[512]);
        _ = await rig.Data.NextAsync();

        rig.Time!.AdjustTime(rig.Time.GetUtcNow() + TimeSpan.FromSeconds(2));
        rig.TagSet.ScanTimeouts();

        Assert.Equal(BlockStatus.NoSpace, await read.AsTask().Guard());
        Assert.Equal(1, rig.Data.CompleteCalls);
        rig.AssertIdle();
    }
}
