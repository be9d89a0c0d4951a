using Blkmq.Tests.Infrastructure;

namespace Blkmq.Tests;

public sealed class BusyRequeueTests
{
    [Theory]
    [InlineData(BlockStatus.Busy)]
    [InlineData(BlockStatus.ResourceBusy)]
    public async Task QueueRq_ReturnsBusy_RequestIsRequeuedAndCompletes(BlockStatus busy)
    {
        int calls = 0;
        await using TestRig rig = TestRig.Create(fakeTime: false, configure: d => d.OnQueueRq = (rq, _) =>
        {
            if (Interlocked.Increment(ref calls) <= 2)
            {
                return busy;
            }

            rq.End(BlockStatus.Ok);
            return BlockStatus.Ok;
        });

        await rig.Device.ReadAsync(0, new byte[512]).AsTask().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(3, calls);
        rig.AssertIdle();
    }

    [Fact]
    public async Task ResourceBusy_RestartsWhenAnotherRequestCompletes()
    {
        bool full = true;
        await using TestRig rig = TestRig.Create(fakeTime: false, depth: 4, configure: d => d.OnQueueRq = (rq, _) =>
        {
            if (rq.Sector == 0)
            {
                d.Hold(rq);
                return BlockStatus.Ok;
            }

            if (Volatile.Read(ref full))
            {
                return BlockStatus.ResourceBusy;
            }

            rq.End(BlockStatus.Ok);
            return BlockStatus.Ok;
        });
        ValueTask first = rig.Device.ReadAsync(0, new byte[512]);
        Request<TestRequest> held = await rig.Data.NextAsync();
        ValueTask second = rig.Device.ReadAsync(512, new byte[512]);
        Assert.False(second.IsCompleted);

        Volatile.Write(ref full, false);
        held.End(BlockStatus.Ok);

        await first;
        await second.AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        rig.AssertIdle();
    }

    [Fact]
    public async Task BusyInBatch_CommitRqsCalledAndOrderKept()
    {
        var seen = new List<long>();
        var lastFlags = new List<bool>();
        int busyOnce = 0;
        await using TestRig rig = TestRig.Create(fakeTime: false, depth: 8, configure: d => d.OnQueueRq = (rq, isLast) =>
        {
            lock (seen)
            {
                if (rq.Sector == 16 && Interlocked.Exchange(ref busyOnce, 1) == 0)
                {
                    return BlockStatus.Busy;
                }

                seen.Add(rq.Sector);
                lastFlags.Add(isLast);
            }

            rq.End(BlockStatus.Ok);
            return BlockStatus.Ok;
        });
        var batch = new BlockBatch(rig.Device);
        byte[] buffer = new byte[4096];

        // Not adjacent: four separate requests.
        for (int i = 0; i < 4; i++)
        {
            batch.Read(i * 8192L, buffer);
        }

        await batch.SubmitAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal([0L, 16L, 32L, 48L], seen);
        Assert.Equal(1, rig.Data.CommitCalls);
        Assert.False(lastFlags[0]);
        Assert.True(lastFlags[^1]);
        rig.AssertIdle();
    }
}
