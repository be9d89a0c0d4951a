using Blkmq.Tests.Infrastructure;

namespace Blkmq.Tests.Rules;

/// <summary>Rule 5: a request the driver never ends is caught by the timeout; the submitter gets an error, not a hang.</summary>
public sealed class Rule5TimeoutTests
{
    [Fact]
    public void Rule5_DefaultTimeout_IsThirtySeconds() =>
        Assert.Equal(TimeSpan.FromSeconds(30), new TagSetOptions().RequestTimeout);

    [Fact]
    public async Task Rule5_NeverEnded_FailsWithTimeout()
    {
        await using TestRig rig = TestRig.Create(timeout: TimeSpan.FromSeconds(5));
        ValueTask read = rig.Device.ReadAsync(0, new byte[512]);
        _ = await rig.Data.NextAsync();

        rig.Time!.Advance(TimeSpan.FromSeconds(4));
        Assert.False(read.IsCompleted);
        rig.Time.Advance(TimeSpan.FromSeconds(2));

        BlockIOException error = await Assert.ThrowsAsync<BlockIOException>(async () => await read.AsTask().WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(BlockStatus.Timeout, error.Status);
        Assert.Equal(1, rig.Data.TimeoutCalls);
        rig.AssertIdle();
    }

    [Fact]
    public async Task Rule5_TimeoutCallbackAsksForMoreTime_RequestStaysWithDriver()
    {
        int resets = 0;
        await using TestRig rig = TestRig.Create(
            timeout: TimeSpan.FromSeconds(1),
            configure: d => d.OnTimeout = _ => Interlocked.Increment(ref resets) <= 2 ? TimeoutAction.ResetTimer : TimeoutAction.Done);
        ValueTask read = rig.Device.ReadAsync(0, new byte[512]);
        Request<TestRequest> request = await rig.Data.NextAsync();

        rig.Time!.Advance(TimeSpan.FromSeconds(2));
        rig.TagSet.ScanTimeouts();
        Assert.True(request.IsOwned);
        rig.Time.Advance(TimeSpan.FromSeconds(2));
        rig.TagSet.ScanTimeouts();
        Assert.True(request.IsOwned);

        request.End(BlockStatus.Ok);
        await read;
        Assert.Equal(2, rig.Data.TimeoutCalls);
    }

    [Fact]
    public async Task Rule5_DriverEndsInsideTimeoutCallback_StatusIsTheDrivers()
    {
        await using TestRig rig = TestRig.Create(
            timeout: TimeSpan.FromSeconds(1),
            configure: d => d.OnTimeout = rq =>
            {
                rq.End(BlockStatus.NoSpace);
                return TimeoutAction.Done;
            });
        ValueTask read = rig.Device.ReadAsync(0, new byte[512]);
        _ = await rig.Data.NextAsync();

        rig.Time!.Advance(TimeSpan.FromSeconds(2));
        rig.TagSet.ScanTimeouts();

        BlockIOException error = await Assert.ThrowsAsync<BlockIOException>(async () => await read);
        Assert.Equal(BlockStatus.NoSpace, error.Status);
        rig.AssertIdle();
    }
}
