using System.Collections.Concurrent;
using Blkmq.Concurrency.Tests.Infrastructure;
using CsCheck;

namespace Blkmq.Concurrency.Tests;

/// <summary>
/// Freezing races submitters the way removal does, but must lose no IO: while <see cref="Disk.FreezeAsync"/> has
/// returned and <see cref="Disk.Unfreeze"/> has not been called, no request reaches <c>QueueRq</c>; every submission
/// made meanwhile waits at the gate and then succeeds; and the tag set is idle at the end.
/// </summary>
public sealed class FreezeDuringSubmissionTests
{
    private const int Capacity = 1 << 20;

    [Fact]
    public async Task FreezeCyclesWhileSubmitting_NoDispatchWhileFrozen_EveryIoSucceeds()
    {
        Gen<(int Submitters, int Depth, int Cycles, int Seed)> scenarios = Gen.Select(Gen.Int[1, 8], Gen.Int[1, 8], Gen.Int[1, 6], Gen.Int[0, int.MaxValue]);
        await scenarios.SampleAsync(static s => RunAsync(s.Submitters, s.Depth, s.Cycles, s.Seed), iter: 60, threads: 1);
    }

    private static async Task RunAsync(int submitterCount, int depth, int cycles, int seed)
    {
        var probe = new DriverProbe();
        int frozen = 0;
        int dispatches = 0;
        int dispatchedWhileFrozen = 0;
        probe.OnQueueRq = (hwQueue, request, isLast) =>
        {
            if (Volatile.Read(ref frozen) != 0)
            {
                Interlocked.Increment(ref dispatchedWhileFrozen);
            }

            switch ((uint)Interlocked.Increment(ref dispatches) % 4)
            {
                case 0:
                    request.EndOk();
                    return BlockStatus.Ok;
                case 1:
                    request.Complete(BlockStatus.Ok);
                    return BlockStatus.Ok;
                case 2:
                    return BlockStatus.Busy;
                default:
                    _ = ThreadPool.QueueUserWorkItem(static request => request.TryEnd(BlockStatus.Ok), request, preferLocal: false);
                    return BlockStatus.Ok;
            }
        };

        ProbeRig rig = ProbeRig.Create(
            new TagSetOptions { QueueDepth = depth },
            probe,
            new DiskOptions { Name = "frozen", Capacity = Capacity, Limits = new QueueLimits { MaxSectors = 8 } });
        await using (rig)
        {
            using var stop = new CancellationTokenSource();
            var failures = new ConcurrentQueue<string>();
            int completions = 0;
            var submitters = new Task[submitterCount];
            for (int s = 0; s < submitters.Length; s++)
            {
                int submitterSeed = seed + s;
                submitters[s] = Task.Run(() => SubmitAsync(rig.Device, submitterSeed, failures, () => Interlocked.Increment(ref completions), stop.Token), TestContext.Current.CancellationToken);
            }

            for (int cycle = 0; cycle < cycles; cycle++)
            {
                int before = Volatile.Read(ref completions);
                HangGuard.Until(() => Volatile.Read(ref completions) > before + 20 || !failures.IsEmpty, "IO to flow between freezes");
                await rig.Disk.FreezeAsync().AsTask().Guard();
                Interlocked.Exchange(ref frozen, 1);

                // A submitter may have taken a tag just before seeing the closed gate; it backs off at once.
                HangGuard.Until(() => rig.Disk.InFlight == 0, "the frozen disk to hold no request");

                // Give submitters a chance to arrive at the closed gate before it opens again.
                Thread.Yield();
                Interlocked.Exchange(ref frozen, 0);
                rig.Disk.Unfreeze();
            }

            await stop.CancelAsync();
            await Task.WhenAll(submitters).Guard();
            Assert.Empty(failures);
            Assert.Equal(0, dispatchedWhileFrozen);
            Assert.Equal(0, rig.TagSet.TagsInUse);
            Assert.Equal(0, rig.Disk.InFlight);
        }
    }

    private static async Task SubmitAsync(BlockDevice device, int seed, ConcurrentQueue<string> failures, Action completed, CancellationToken stop)
    {
        var random = new Random(seed);
        while (!stop.IsCancellationRequested)
        {
            int length = random.Next(1, 25) * 512;
            long offset = random.Next(0, (Capacity - length) / 512) * 512L;
            byte[] buffer = new byte[length];
            try
            {
                await (random.Next(2) == 0 ? device.ReadAsync(offset, buffer) : device.WriteAsync(offset, buffer));
                completed();
            }
            catch (Exception ex)
            {
                failures.Enqueue($"{ex.GetType().Name}: {ex.Message}");
                return;
            }
        }
    }
}
