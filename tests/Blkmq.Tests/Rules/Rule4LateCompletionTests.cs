using Blkmq.Tests.Infrastructure;

namespace Blkmq.Tests.Rules;

/// <summary>Rule 4: a deferred completion (timer, other thread) arriving after the request was ended or timed out is harmless.</summary>
public sealed class Rule4LateCompletionTests
{
    [Fact]
    public async Task Rule4_TimerCompletionAfterEnd_IsHarmless()
    {
        await using TestRig rig = TestRig.Create(depth: 1);
        ValueTask first = rig.Device.ReadAsync(0, new byte[512]);
        Request<TestRequest> request = await rig.Data.NextAsync();
        request.End(BlockStatus.Ok);
        await first;

        ValueTask second = rig.Device.ReadAsync(512, new byte[512]);
        Request<TestRequest> next = await rig.Data.NextAsync();

        // The "timer" of the first request fires late, from another thread, while the slot serves the second.
        bool ended = await Task.Run(() => request.TryEnd(BlockStatus.IoError));
        bool completed = await Task.Run(() => request.TryComplete(BlockStatus.IoError));

        Assert.False(ended);
        Assert.False(completed);
        Assert.True(next.IsOwned);
        Assert.False(second.IsCompleted);
        next.End(BlockStatus.Ok);
        await second;
        rig.AssertIdle();
    }

    [Fact]
    public async Task Rule4_TimerCompletionAfterTimeout_IsHarmless()
    {
        await using TestRig rig = TestRig.Create(depth: 1, timeout: TimeSpan.FromSeconds(1));
        ValueTask read = rig.Device.ReadAsync(0, new byte[512]);
        Request<TestRequest> request = await rig.Data.NextAsync();

        rig.Time!.Advance(TimeSpan.FromSeconds(2));
        rig.TagSet.ScanTimeouts();
        BlockIOException error = await Assert.ThrowsAsync<BlockIOException>(async () => await read);
        Assert.Equal(BlockStatus.Timeout, error.Status);

        ValueTask next = rig.Device.ReadAsync(512, new byte[512]);
        Request<TestRequest> current = await rig.Data.NextAsync();
        Assert.False(request.TryEnd(BlockStatus.Ok));
        Assert.Throws<InvalidOperationException>(() => request.End(BlockStatus.Ok));
        Assert.True(current.IsOwned);
        current.End(BlockStatus.Ok);
        await next;
        rig.AssertIdle();
    }
}
