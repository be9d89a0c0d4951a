using Blkmq.Tests.Infrastructure;

namespace Blkmq.Tests.Rules;

/// <summary>
/// Rule 9: dispatch concurrency is what the contract says. <c>QueueRq</c> runs for one hardware queue on one thread at
/// a time unless the driver declares <see cref="IBlockDriver{TRequestData, THwQueueData, TDiskData}.ConcurrentQueueRq"/>;
/// a blocking driver's <c>QueueRq</c> may sleep without holding up completions.
/// </summary>
public sealed class Rule9DispatchConcurrencyTests
{
    [Fact]
    public async Task Rule9_ManySubmittersOneQueue_QueueRqNeverOverlaps()
    {
        int inside = 0;
        int overlaps = 0;
        await using TestRig rig = TestRig.Create(fakeTime: false, depth: 64, configure: d => d.OnQueueRq = (rq, _) =>
        {
            if (Interlocked.Increment(ref inside) > 1)
            {
                Interlocked.Increment(ref overlaps);
            }

            Thread.SpinWait(200);
            Interlocked.Decrement(ref inside);
            rq.End(BlockStatus.Ok);
            return BlockStatus.Ok;
        });

        Task[] submitters = new Task[4];
        for (int s = 0; s < submitters.Length; s++)
        {
            int index = s;
            submitters[s] = Task.Run(async () =>
            {
                byte[] buffer = new byte[512];
                for (int i = 0; i < 2000; i++)
                {
                    await rig.Device.ReadAsync(512L * index, buffer);
                }
            });
        }

        await Task.WhenAll(submitters).Guard();
        Assert.Equal(0, overlaps);
        Assert.Equal(8000, rig.Data.QueueRqCalls);
    }

    [Fact]
    public void Rule9_ConcurrentDriverWithMutableStructQueueData_IsRefused()
    {
        ArgumentException error = Assert.Throws<ArgumentException>(() => new TagSet<ConcurrentStructDriver, int, MutableQueueData, object>(default, new TagSetOptions()));
        Assert.Contains("ConcurrentQueueRq", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rule9_BlockingQueueRqSleeps_CompletionsOfTheQueueStillRun()
    {
        using var retryEntered = new ManualResetEventSlim();
        using var wake = new ManualResetEventSlim();
        await using TestRig rig = TestRig.Create(fakeTime: false, blocking: true, configure: d => d.OnQueueRq = (rq, _) =>
        {
            if (rq.Sector == 0)
            {
                d.Hold(rq);
                return BlockStatus.Ok;
            }

            if (d.QueueRqCalls == 2)
            {
                return BlockStatus.Busy;
            }

            // The retry, from the requeue work: a blocking driver sleeps here (a mutex, a synchronous device call).
            retryEntered.Set();
            wake.Wait(TimeSpan.FromSeconds(30));
            rq.End(BlockStatus.Ok);
            return BlockStatus.Ok;
        });
        ValueTask first = rig.Device.ReadAsync(0, new byte[512]);
        Request<TestRequest> held = await rig.Data.NextAsync();
        ValueTask second = rig.Device.ReadAsync(4096, new byte[512]);
        HangGuard.Eventually(() => retryEntered.IsSet, "the requeued request to reach the sleeping QueueRq");

        // Completed through the queue's completion context while the queue's QueueRq sleeps.
        held.Complete(BlockStatus.Ok);
        Task completed = first.AsTask();
        bool finished = await Task.WhenAny(completed, Task.Delay(TimeSpan.FromSeconds(10))) == completed;

        wake.Set();
        await second.AsTask().Guard();
        Assert.True(finished, "a completion waited for a sleeping QueueRq");
        await completed;
        rig.AssertIdle();
    }

    [Fact]
    public async Task Rule9_BlockingDriver_SubmissionFromCompletionContext_IsNotDispatchedThere()
    {
        int dispatchedOnCompletionContext = 0;
        await using TestRig rig = TestRig.Create(fakeTime: false, blocking: true, configure: d => d.OnQueueRq = (rq, _) =>
        {
            if (HwQueueBase.IsCompletionContext)
            {
                Interlocked.Increment(ref dispatchedOnCompletionContext);
            }

            // A device interrupt on another thread: the request finishes on the queue's completion context, where
            // the submitter's continuation then runs and submits the next read.
            ThreadPool.QueueUserWorkItem(static r => r.Complete(BlockStatus.Ok), rq, preferLocal: false);
            return BlockStatus.Ok;
        });

        await ReadInALoopAsync(rig.Device, 200).Guard();

        Assert.Equal(0, Volatile.Read(ref dispatchedOnCompletionContext));
        rig.AssertIdle();
    }

    private static async Task ReadInALoopAsync(BlockDevice device, int count)
    {
        byte[] buffer = new byte[512];
        for (int i = 0; i < count; i++)
        {
            // ConfigureAwait(false): the continuation, and so the next submission, runs where the completion ran.
            await device.ReadAsync(0, buffer).ConfigureAwait(false);
        }
    }

    /// <summary>Mutable queue data by reference, shared by concurrent calls: what rule 9 refuses.</summary>
    public struct MutableQueueData
    {
        public int Count { get; set; }
    }

    /// <summary>A driver that declares concurrent dispatch yet keeps mutable struct queue data.</summary>
    public readonly struct ConcurrentStructDriver : IBlockDriver<int, MutableQueueData, object>
    {
        public static bool ConcurrentQueueRq => true;

        public BlockStatus QueueRq(ref MutableQueueData hwQueue, object disk, Request<int> request, bool isLast)
        {
            hwQueue.Count++;
            request.End(BlockStatus.Ok);
            return BlockStatus.Ok;
        }

        public MutableQueueData InitHctx(object disk, int hwQueueIndex) => default;

        public int InitRequest(int hwQueueIndex, int tag) => 0;
    }
}
