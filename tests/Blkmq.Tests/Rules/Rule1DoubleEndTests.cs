using Blkmq.Tests.Infrastructure;

namespace Blkmq.Tests.Rules;

/// <summary>Rule 1: a driver ends a request it owns exactly once; a second end fails deterministically and touches no other IO.</summary>
public sealed class Rule1DoubleEndTests
{
    [Fact]
    public async Task Rule1_SecondEndThroughCopy_Throws()
    {
        await using TestRig rig = TestRig.Create();
        ValueTask read = rig.Device.ReadAsync(0, new byte[512]);
        Request<TestRequest> request = await rig.Data.NextAsync();
        Request<TestRequest> copy = request;

        request.End(BlockStatus.Ok);

        InvalidOperationException error = Assert.Throws<InvalidOperationException>(() => copy.End(BlockStatus.IoError));
        Assert.Contains("already ended", error.Message, StringComparison.Ordinal);
        Assert.False(copy.TryEnd(BlockStatus.IoError));
        await read;
        rig.AssertIdle();
    }

    [Fact]
    public async Task Rule1_SecondEndAfterSlotReused_DoesNotTouchTheNewIo()
    {
        await using TestRig rig = TestRig.Create(depth: 1);
        ValueTask first = rig.Device.ReadAsync(0, new byte[512]);
        Request<TestRequest> old = await rig.Data.NextAsync();
        int oldTag = old.Tag;
        old.End(BlockStatus.Ok);
        await first;

        // Depth 1: the second IO gets the same slot and tag.
        ValueTask second = rig.Device.ReadAsync(512, new byte[512]);
        Request<TestRequest> current = await rig.Data.NextAsync();
        Assert.Equal(oldTag, current.Tag);

        Assert.Throws<InvalidOperationException>(() => old.End(BlockStatus.IoError));
        Assert.False(old.TryEnd(BlockStatus.IoError));
        Assert.True(current.IsOwned);
        Assert.False(second.IsCompleted);

        current.End(BlockStatus.Ok);
        await second;
        rig.AssertIdle();
    }

    [Fact]
    public async Task Rule1_EndRacingFromTwoThreads_ExactlyOneWins()
    {
        await using TestRig rig = TestRig.Create(depth: 2);
        for (int round = 0; round < 300; round++)
        {
            ValueTask<bool> io = ReadReportingFailureAsync(rig.Device);
            Request<TestRequest> request = await rig.Data.NextAsync();
            using var start = new Barrier(2);
            BlockStatus[] statuses = [BlockStatus.Ok, BlockStatus.IoError];
            bool[] won = new bool[2];
            Thread[] threads = new Thread[2];
            for (int t = 0; t < 2; t++)
            {
                int index = t;
                Request<TestRequest> copy = request;
                threads[t] = new Thread(() =>
                {
                    start.SignalAndWait();
                    won[index] = copy.TryEnd(statuses[index]);
                });
                threads[t].Start();
            }

            foreach (Thread thread in threads)
            {
                thread.Join();
            }

            Assert.True(won[0] ^ won[1], $"round {round}: exactly one end must win");
            bool failed = await io;
            Assert.Equal(won[1], failed);
        }

        rig.AssertIdle();
    }

    [Fact]
    public async Task Rule1_CompleteThenEnd_SecondFails()
    {
        await using TestRig rig = TestRig.Create();
        ValueTask read = rig.Device.ReadAsync(0, new byte[512]);
        Request<TestRequest> request = await rig.Data.NextAsync();

        // The completion context is held until the asserts are done: once its Complete callback runs, the driver owns
        // the request again, and an End from here could race with the callback's (this test's old flake).
        var held = new HeldWork();
        rig.TagSet.WorkScheduler = held;
        request.Complete(BlockStatus.Ok);

        // Handed to the completion context: the block layer owns it until the Complete callback.
        Assert.Equal(1, held.Count);
        Assert.Throws<InvalidOperationException>(() => request.End(BlockStatus.IoError));
        Assert.Throws<InvalidOperationException>(() => request.Complete(BlockStatus.IoError));
        Assert.Equal(0, rig.Data.CompleteCalls);
        rig.TagSet.WorkScheduler = null;
        held.ReleaseToThreadPool();
        await read;
        Assert.Equal(1, rig.Data.CompleteCalls);
        rig.AssertIdle();
    }

    private static async ValueTask<bool> ReadReportingFailureAsync(BlockDevice device)
    {
        try
        {
            await device.ReadAsync(0, new byte[512]);
            return false;
        }
        catch (BlockIOException ex) when (ex.Status == BlockStatus.IoError)
        {
            return true;
        }
    }

    /// <summary>Keeps the block layer's work items (the completion context) until released.</summary>
    private sealed class HeldWork : IWorkScheduler
    {
        private readonly System.Collections.Concurrent.ConcurrentQueue<IThreadPoolWorkItem> _items = new();

        public int Count => _items.Count;

        public void Queue(IThreadPoolWorkItem item) => _items.Enqueue(item);

        public void ReleaseToThreadPool()
        {
            while (_items.TryDequeue(out IThreadPoolWorkItem? item))
            {
                ThreadPool.UnsafeQueueUserWorkItem(item, preferLocal: false);
            }
        }
    }
}
