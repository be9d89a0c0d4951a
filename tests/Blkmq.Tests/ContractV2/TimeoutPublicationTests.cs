using System.Diagnostics;
using Blkmq.Tests.Infrastructure;

namespace Blkmq.Tests.ContractV2;

/// <summary>
/// The timeout scan runs on the tag set's timer, under its scan lock. The submitter's continuation of a request it
/// ends must not run there: a synchronous <c>Dispose</c> in that continuation waited for the timer callback it was
/// running in (a hang), and a slow continuation held every other timeout behind it. Real time: the self-wait is in
/// the system timer's disposal, which a fake clock does not have.
/// </summary>
public sealed class TimeoutPublicationTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMilliseconds(200);

    [Fact]
    public async Task SyncDispose_InTheContinuationOfATimedOutIo_Returns()
    {
        await using TestRig rig = TestRig.Create(timeout: Timeout, fakeTime: false);
        BlockStatus? status = null;
        Task disposed = Task.Run(async () =>
        {
            try
            {
                await rig.Device.ReadAsync(0, new byte[512]).ConfigureAwait(false);
            }
            catch (BlockIOException error)
            {
                status = error.Status;
            }

            rig.TagSet.Dispose();
        });

        await disposed.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(BlockStatus.Timeout, status);
        Assert.Equal(0, rig.TagSet.TagsInUse);
    }

    [Fact]
    public async Task SlowContinuation_OfOneTimedOutIo_DoesNotDelayTheNextTimeout()
    {
        await using TestRig rig = TestRig.Create(timeout: Timeout, fakeTime: false);
        using var release = new ManualResetEventSlim();
        Task first = Task.Run(async () =>
        {
            await Assert.ThrowsAsync<BlockIOException>(async () => await rig.Device.ReadAsync(0, new byte[512]).ConfigureAwait(false));

            // A submitter that takes its time: on the timer thread this would stall every later timeout.
            release.Wait(TimeSpan.FromSeconds(10));
        });
        _ = await rig.Data.NextAsync();

        // Submitted later, so its deadline falls while the first one's continuation still runs.
        await Task.Delay(Timeout / 2);
        var clock = Stopwatch.StartNew();
        BlockIOException error = await Assert.ThrowsAsync<BlockIOException>(
            async () => await rig.Device.ReadAsync(4096, new byte[512]).AsTask().WaitAsync(TimeSpan.FromSeconds(20)));
        TimeSpan took = clock.Elapsed;
        release.Set();
        await first.WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Equal(BlockStatus.Timeout, error.Status);
        Assert.True(took < TimeSpan.FromSeconds(5), $"the second IO timed out after {took.TotalSeconds:F1} s, not about {Timeout.TotalSeconds:F1} s");
        rig.AssertIdle();
    }
}
