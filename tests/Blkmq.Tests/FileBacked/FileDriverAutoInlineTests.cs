using Blkmq.Drivers.File;
using Blkmq.Tests.Shared;

namespace Blkmq.Tests.FileBacked;

/// <summary>
/// <c>inline=auto</c> (the io_uring engine's default): the submitter's continuation runs on the ring thread, watched by the completion runner; a continuation that blocks on another IO of the same queue (its own
/// synchronous write, or another submitter's write, or an IO reaped with it) loses the ring to a new ring thread
/// instead of stalling the queue; at queue depth 32 the ring thread runs continuations too and data reads back;
/// removing the disk with IO in flight drains it.
/// </summary>
public sealed class FileDriverAutoInlineTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    private static int Takeovers(FileScope scope) => ((FileUringQueue)scope.Block!.File.HwQueues[0]!).Takeovers;

    /// <summary>Writes block 0 every few milliseconds until a continuation runs on the ring thread (false: never).</summary>
    private static async Task<bool> UntilOnTheRing(BlockDevice device, byte[] model)
    {
        for (int k = 0; k < 1000; k++)
        {
            await Task.Delay(5);
            await device.WriteAsync(0, model.AsMemory(0, 4096));
            if (OnRingThread())
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Waits for each task: it succeeds, or fails with <see cref="BlockStatus.Offline"/> (the disk went).</summary>
    private static async Task<(int Ok, int Offline)> SucceededOrOffline(IEnumerable<Task> tasks)
    {
        int ok = 0, offline = 0;
        foreach (Task task in tasks)
        {
            try
            {
                await task.WaitAsync(Bound, TestContext.Current.CancellationToken);
                ok++;
            }
            catch (BlockIOException error)
            {
                Assert.Equal(BlockStatus.Offline, error.Status);
                offline++;
            }
        }

        return (ok, offline);
    }

    /// <summary>
    /// Whether this code runs on the ring's current owner. A test that blocks there must not ask only
    /// <see cref="OnRingThread"/>: a ring thread that lost the ring to a takeover keeps its name and runs the test's
    /// code on, synchronously where an IO it submits completes while its submission is still in QueueRq.
    /// </summary>
    private static bool OnTheRingsOwner(FileScope scope) => ((FileUringQueue)scope.Block!.File.HwQueues[0]!).IsOwnerThread;

    private static bool OnRingThread() =>
        Thread.CurrentThread.Name is { } name && name.StartsWith("blkmq-uring-", StringComparison.Ordinal) && !name.EndsWith("-end", StringComparison.Ordinal);

    [Theory]
    [InlineData(",inline=auto")]
    [InlineData(",inline=auto,spin=50")]
    public async Task Auto_QueueDepth1_ContinuationsOnTheRing_BlockingContinuationLosesTheRing_DataReadsBack(string extra)
    {
        const int Blocks = 256;
        await using FileScope scope = FileScope.Create(FileEngine.IoUring, 4 << 20, extra + FileScope.WritesToTheRing);
        byte[] model = new byte[Blocks * 4096];
        new Random(5).NextBytes(model);

        (int onRing, int blockedOnRing, int takeovers, bool resumed) = await Task.Run(async () =>
        {
            BlockDevice device = scope.Disk.OpenDevice();

            // Warm up (the first continuations compile code, and a takeover then may pause inlining for a while).
            for (int i = 0; i < 64; i++)
            {
                await device.WriteAsync(i * 4096L, model.AsMemory(i * 4096, 4096));
            }

            _ = await UntilOnTheRing(device, model);
            int before = Takeovers(scope);
            int ring = 0, blocked = 0;
            for (int i = 0; i < Blocks; i++)
            {
                await device.WriteAsync(i * 4096L, model.AsMemory(i * 4096, 4096));
                if (OnRingThread())
                {
                    ring++;
                    if (i >= 32 && blocked == 0)
                    {
                        // A synchronous write to the same queue from its ring thread (a write: a read may be served
                        // from the page cache inside QueueRq): only a new ring thread can serve it.
                        device.WriteAsync(i * 4096L, model.AsMemory(i * 4096, 4096)).AsTask().GetAwaiter().GetResult();
                        blocked++;
                    }
                }
            }

            // After the takeover the queue ends requests on the runner for a while, then inline again.
            int taken = Takeovers(scope) - before;
            bool again = await UntilOnTheRing(device, model);

            byte[] read = new byte[4096];
            for (int i = 0; i < Blocks; i += 3)
            {
                await device.ReadAsync(i * 4096L, read);
                Assert.True(model.AsSpan(i * 4096, 4096).SequenceEqual(read), $"block {i} reads back");
            }

            await device.FlushAsync();
            await scope.CloseAsync(); // from wherever the last continuation ran: the ring thread, or the runner
            return (ring, blocked, taken, again);
        }, TestContext.Current.CancellationToken).WaitAsync(Bound, TestContext.Current.CancellationToken);

        Assert.True(onRing >= 16, $"{onRing} of {Blocks} continuations ran on the ring thread");
        Assert.Equal(1, blockedOnRing);

        // One for the blocked continuation; a continuation descheduled for a tick right after it queued its next IO
        // may cost another on a loaded machine (harmless: the ring moves on to a new thread).
        Assert.InRange(takeovers, 1, 3);
        Assert.True(resumed, "continuations ran on the ring thread again after the takeover's pause");
        byte[] file = await System.IO.File.ReadAllBytesAsync(scope.ImagePath, TestContext.Current.CancellationToken);
        Assert.True(model.AsSpan().SequenceEqual(file.AsSpan(0, model.Length)), "the file holds what was written");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Auto_ContinuationWaitingForAnotherSubmitter_DoesNotStallTheQueue(bool spinning)
    {
        await using FileScope scope = FileScope.Create(FileEngine.IoUring, 4 << 20, ",inline=auto" + FileScope.WritesToTheRing);
        BlockDevice device = scope.Disk.OpenDevice();
        byte[] block = new byte[4096];
        new Random(8).NextBytes(block);

        (bool reachedRing, bool otherFinished) = await Task.Run(async () =>
        {
            for (int i = 0; i < 1000; i++)
            {
                await device.WriteAsync(0, block);
                if (OnRingThread())
                {
                    // Another submitter's IO on the same queue, while this continuation holds the ring thread until it
                    // has completed: the runner takes the ring away after a tick and a new ring thread serves it.
                    using var done = new ManualResetEventSlim();
                    _ = Task.Run(async () =>
                    {
                        await device.WriteAsync(4096, block);
                        done.Set();
                    });
                    if (!spinning)
                    {
                        return (true, done.Wait(Bound)); // asleep: taken over at the next tick
                    }

                    // Busy (runnable, never asleep): taken over after RunnableTakeoverTicks ticks.
                    var clock = System.Diagnostics.Stopwatch.StartNew();
                    while (!done.IsSet && clock.Elapsed < Bound)
                    {
                        Thread.SpinWait(100);
                    }

                    return (true, done.IsSet);
                }
            }

            return (false, false);
        }, TestContext.Current.CancellationToken).WaitAsync(Bound * 2, TestContext.Current.CancellationToken);

        Assert.True(reachedRing, "a continuation ran on the ring thread");
        Assert.True(otherFinished, "the other submitter's IO completed while the continuation held the ring thread");
        Assert.InRange(Takeovers(scope), 1, 3);

        // The queue serves on after the takeover.
        byte[] read = new byte[4096];
        await device.ReadAsync(4096, read);
        Assert.True(block.AsSpan().SequenceEqual(read));
    }

    [Fact]
    public async Task Auto_QueueDepth32_ContinuationsOnTheRing_DataReadsBack_ThenDepth1InlinesAgain()
    {
        const int Workers = 32, PerWorker = 24;
        await using FileScope scope = FileScope.Create(FileEngine.IoUring, 8 << 20, ",inline=auto" + FileScope.WritesToTheRing);
        byte[] model = new byte[Workers * PerWorker * 4096];
        new Random(13).NextBytes(model);
        BlockDevice device = scope.Disk.OpenDevice();

        // At queue depth 32 the ring thread runs the continuations too (the runner watches): in most of a round's
        // writes, in some round of at most 10 s of them (a takeover, when a continuation is descheduled for ten ticks,
        // pauses inlining for a while). Before, only a pass that ended the queue's last IO ran one there: a few a round.
        int rounds = 0, best = 0;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (best * 2 < Workers * PerWorker && clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            int onRing = 0;
            await Task.WhenAll(Enumerable.Range(0, Workers).Select(w => Task.Run(async () =>
            {
                for (int k = 0; k < PerWorker; k++)
                {
                    int blockIndex = (k * Workers) + w;
                    await device.WriteAsync(blockIndex * 4096L, model.AsMemory(blockIndex * 4096, 4096));
                    if (OnRingThread())
                    {
                        Interlocked.Increment(ref onRing);
                    }
                }
            }))).WaitAsync(Bound, TestContext.Current.CancellationToken);
            best = Math.Max(best, onRing);
            rounds++;
        }

        Assert.True(best * 2 >= Workers * PerWorker, $"at most {best} of {Workers * PerWorker} continuations of a round at queue depth 32 ran on the ring thread ({rounds} rounds)");

        await Task.WhenAll(Enumerable.Range(0, Workers).Select(w => Task.Run(async () =>
        {
            byte[] read = new byte[4096];
            for (int k = 0; k < PerWorker; k++)
            {
                int blockIndex = (k * Workers) + w;
                await device.ReadAsync(blockIndex * 4096L, read);
                Assert.True(model.AsSpan(blockIndex * 4096, 4096).SequenceEqual(read), $"block {blockIndex} reads back");
            }
        }))).WaitAsync(Bound, TestContext.Current.CancellationToken);

        // Back at queue depth 1: the ring thread inlines on. Not necessarily at once: a takeover during the depth-32
        // phase (a worker's continuation descheduled while it held the ring) suspends inlining for InlineSuspendTicks
        // (about 0.1 s), longer than 64 writes take on a fast disk; so write at depth 1 for up to 5 s, until 16
        // continuations ran on the ring thread.
        (int onRingAtDepth1, int writesAtDepth1) = await Task.Run(async () =>
        {
            int ring = 0, count = 0;
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (ring < 16 && clock.Elapsed < TimeSpan.FromSeconds(5))
            {
                int i = count++ % 64;
                await device.WriteAsync(i * 4096L, model.AsMemory(i * 4096, 4096));
                ring += OnRingThread() ? 1 : 0;
            }

            return (ring, count);
        }, TestContext.Current.CancellationToken).WaitAsync(Bound, TestContext.Current.CancellationToken);
        Assert.True(onRingAtDepth1 >= 16, $"{onRingAtDepth1} of {writesAtDepth1} continuations at depth 1 in 5 s ran on the ring thread");

        await device.FlushAsync();
        await scope.CloseAsync();
        byte[] file = await System.IO.File.ReadAllBytesAsync(scope.ImagePath, TestContext.Current.CancellationToken);
        Assert.True(model.AsSpan().SequenceEqual(file.AsSpan(0, model.Length)), "the file holds what was written");
    }

    [Fact]
    public async Task Auto_ContinuationWaitingForAnIoReapedWithIt_LosesTheRing_TheRunnerEndsTheRestOfTheBatch()
    {
        await using FileScope scope = FileScope.Create(FileEngine.IoUring, 4 << 20, ",inline=auto" + FileScope.WritesToTheRing);
        var queue = (FileUringQueue)scope.Block!.File.HwQueues[0]!;
        BlockDevice device = scope.Disk.OpenDevice();
        byte[] block = new byte[4096];
        new Random(34).NextBytes(block);

        // Two writes at once, whose completions one pass usually reaps together: the first one's continuation, on the
        // ring thread, waits for the second's, which only a takeover can end (it is the next IO of the same batch).
        // Until that happened once (each takeover pauses inlining for about 0.1 s).
        (int pairs, int onRing, int unfinished) = await Task.Run(async () =>
        {
            int pairs = 0, onRing = 0, unfinished = 0;
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (queue.BatchIosEndedByTakeover == 0 && clock.Elapsed < TimeSpan.FromSeconds(30))
            {
                using var secondDone = new ManualResetEventSlim();
                async Task First()
                {
                    await device.WriteAsync(0, block);
                    if (queue.IsOwnerThread)
                    {
                        // Not merely OnRingThread(): on a ring thread that lost the ring earlier, this write may have
                        // completed synchronously, and waiting here would keep the second write from being submitted.
                        onRing++;
                        unfinished += secondDone.Wait(Bound) ? 0 : 1;
                    }
                }

                async Task Second()
                {
                    await device.WriteAsync(4096, block);
                    secondDone.Set();
                }

                Task first = First(), second = Second();
                await Task.WhenAll(first, second);
                pairs++;
            }

            return (pairs, onRing, unfinished);
        }, TestContext.Current.CancellationToken).WaitAsync(Bound * 2, TestContext.Current.CancellationToken);

        Assert.True(onRing > 0, $"a continuation at queue depth 2 ran on the ring thread ({pairs} pairs)");
        Assert.Equal(0, unfinished);
        Assert.True(queue.BatchIosEndedByTakeover > 0, $"the runner ended an IO of a held batch ({pairs} pairs, {onRing} on the ring)");
        Assert.True(queue.Takeovers >= 1);

        // The queue serves on after the takeovers.
        byte[] read = new byte[4096];
        await device.ReadAsync(4096, read);
        Assert.True(block.AsSpan().SequenceEqual(read));
    }

    [Theory]
    [InlineData(",inline=auto")]
    [InlineData("")]
    [InlineData(",inline=1")]
    public async Task DisposeWithIoInFlight_Drains(string extra)
    {
        await using FileScope scope = FileScope.Create(FileEngine.IoUring, 8 << 20, extra + FileScope.WritesToTheRing);
        BlockDevice device = scope.Disk.OpenDevice();
        byte[] block = new byte[4096];
        new Random(21).NextBytes(block);

        // One submitter at depth 1 and many at once: some IO is in the kernel when the disk goes.
        Task chain = Task.Run(async () =>
        {
            for (int i = 0; i < 100_000; i++)
            {
                await device.WriteAsync(i % 512 * 4096L, block);
            }
        });
        Task[] burst = [.. Enumerable.Range(0, 48).Select(i => device.WriteAsync((512 + i) * 4096L, block).AsTask())];
        await Task.Yield();
        await scope.CloseAsync().AsTask().WaitAsync(Bound, TestContext.Current.CancellationToken);

        (int ok, int offline) = await SucceededOrOffline(burst.Append(chain));

        Assert.Equal(burst.Length + 1, ok + offline);
    }

    [Fact]
    public async Task Auto_DiskDisposedByAContinuationOnTheRing_FileClosedWhenTheDisposalReturns()
    {
        // The ring outlives a disposal made on its own thread (it is released when the call chain returns to the ring
        // loop); the file must not: a ramfs holding the image unmounts right after the disposal, on the same thread.
        ScratchMount ramfs = await ScratchMount.CreateAsync("ramfs");
        FileScope scope = FileScope.Create(FileEngine.IoUring, 4 << 20, ",inline=auto" + FileScope.WritesToTheRing, parent: ramfs.Path);
        try
        {
            BlockDevice device = scope.Disk.OpenDevice();
            byte[] block = new byte[4096];
            (bool disposedOnRing, int umount) = await Task.Run(async () =>
            {
                for (int i = 0; i < 1000; i++)
                {
                    await device.WriteAsync(0, block);
                    if (OnRingThread())
                    {
                        await scope.CloseAsync();
                        if (!OnRingThread())
                        {
                            continue; // the disposal went asynchronous: the ring thread was not in the call chain
                        }

                        using var process = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("umount", ramfs.Path) { RedirectStandardError = true, UseShellExecute = false })!;
                        process.WaitForExit();
                        return (true, process.ExitCode);
                    }
                }

                return (false, -1);
            }, TestContext.Current.CancellationToken).WaitAsync(Bound, TestContext.Current.CancellationToken);

            Assert.True(disposedOnRing, "the disk was disposed from a continuation on the ring thread");
            Assert.Equal(0, umount);
        }
        finally
        {
            await scope.CloseAsync();
            await ramfs.DisposeAsync(); // unmounted already (umount fails, harmlessly), or now
        }
    }

    [Fact]
    public async Task Auto_ContinuationOnTheRingDisposesTheDiskAtQueueDepth32_EveryIoEnds()
    {
        // The disposing continuation was reaped with others of the same batch, not yet ended: the disposal must not
        // wait for this thread, and each of them ends (written, or Offline).
        const int Workers = 32;
        FileScope scope = FileScope.Create(FileEngine.IoUring, 8 << 20, ",inline=auto" + FileScope.WritesToTheRing);
        try
        {
            BlockDevice device = scope.Disk.OpenDevice();
            byte[] block = new byte[4096];
            int disposals = 0;
            Task[] workers = [.. Enumerable.Range(0, Workers).Select(w => Task.Run(async () =>
            {
                for (int k = 0; k < 100_000; k++)
                {
                    await device.WriteAsync(((k * Workers) + w) % 2048 * 4096L, block);
                    if (k >= 8 && OnRingThread() && Interlocked.Exchange(ref disposals, 1) == 0)
                    {
                        await scope.CloseAsync(); // on the ring thread, with the rest of its batch not ended yet
                    }
                }
            }))];

            (int ok, int offline) = await SucceededOrOffline(workers);

            Assert.Equal(1, disposals);
            Assert.Equal(Workers, ok + offline);
            Assert.True(offline >= Workers - 1, $"{offline} workers saw the disk go ({ok} finished first)");
        }
        finally
        {
            await scope.DisposeAsync();
        }
    }

    [Fact]
    public async Task Auto_ContinuationHoldingTheRingWhileNothingWaits_LosesItAfterIdleTakeoverTicks()
    {
        // Nothing the ring can see waits (queue depth 1): the continuation keeps the ring for IdleTakeoverTicks
        // (about 0.1 s), not for ever, in case what it waits for is on its way to the queue unseen.
        await using FileScope scope = FileScope.Create(FileEngine.IoUring, 4 << 20, ",inline=auto" + FileScope.WritesToTheRing);
        BlockDevice device = scope.Disk.OpenDevice();
        byte[] block = new byte[4096];
        (bool reachedRing, int before, int during) = await Task.Run(async () =>
        {
            for (int i = 0; i < 1000; i++)
            {
                await device.WriteAsync(0, block);
                if (OnTheRingsOwner(scope))
                {
                    int takenBefore = Takeovers(scope);
                    Thread.Sleep(FileUringQueue.IdleTakeoverTicks * FileCompletionRunner.TickMilliseconds * 4);
                    return (true, takenBefore, Takeovers(scope));
                }
            }

            return (false, 0, 0);
        }, TestContext.Current.CancellationToken).WaitAsync(Bound, TestContext.Current.CancellationToken);

        Assert.True(reachedRing, "a continuation ran on the ring thread");
        Assert.Equal(before + 1, during);
        await device.WriteAsync(4096, block); // served by the new ring thread
    }

    [Fact]
    public async Task Auto_ContinuationOnTheRingWaitsForAnotherThreadsDisposal_Ends()
    {
        FileScope scope = FileScope.Create(FileEngine.IoUring, 4 << 20, ",inline=auto" + FileScope.WritesToTheRing);
        try
        {
            BlockDevice device = scope.Disk.OpenDevice();
            byte[] block = new byte[4096];
            bool reachedRing = await Task.Run(async () =>
            {
                for (int i = 0; i < 1000; i++)
                {
                    await device.WriteAsync(0, block);
                    if (OnRingThread())
                    {
                        // The disposal waits for the ring's loop to end, which waits for this continuation: the runner
                        // takes the ring away, and the new ring thread's loop ends.
                        Assert.True(Task.Run(async () => await scope.CloseAsync()).Wait(Bound), "the disposal ended");
                        return true;
                    }
                }

                return false;
            }, TestContext.Current.CancellationToken).WaitAsync(Bound * 2, TestContext.Current.CancellationToken);

            Assert.True(reachedRing, "a continuation ran on the ring thread");
        }
        finally
        {
            await scope.DisposeAsync();
        }
    }
}
