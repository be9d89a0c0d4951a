using System.Collections.Concurrent;
using Blkmq.Concurrency.Tests.Infrastructure;
using CsCheck;

namespace Blkmq.Concurrency.Tests;

/// <summary>
/// Rule 7 under races: a disk removed while submitters keep submitting and the driver completes requests every
/// way it can (inline, through the completion context, later from another thread, after refusing them as busy).
/// Every submission either succeeds or fails with <see cref="BlockStatus.Offline"/>, nothing hangs, the tag set is
/// idle afterwards, and no driver callback runs once <see cref="Disk.RemoveAsync"/> has returned.
/// </summary>
public sealed class RemoveDuringSubmissionTests
{
    private const int Capacity = 1 << 20;

    [Fact]
    public async Task RemoveWhileSubmitting_EveryIoSucceedsOrGoesOffline_NoCallbackAfterRemoval()
    {
        Gen<Scenario> scenarios =
            from submitters in Gen.Int[1, 8]
            from depth in Gen.Int[1, 8]
            from queues in Gen.Int[1, 2]
            from removeAfter in Gen.Int[0, 300]
            from seed in Gen.Int[0, int.MaxValue]
            select new Scenario(submitters, depth, queues, removeAfter, seed);
        await scenarios.SampleAsync(RunAsync, iter: 150, threads: 1);
    }

    private static async Task RunAsync(Scenario scenario)
    {
        var probe = new DriverProbe();
        int dispatches = 0;
        probe.OnQueueRq = (hwQueue, request, isLast) =>
        {
            // Every way a driver finishes a request, interleaved.
            switch ((uint)Interlocked.Increment(ref dispatches) % 5)
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
                    probe.Captured.Enqueue(request);
                    return BlockStatus.Ok;
            }
        };

        ProbeRig rig = ProbeRig.Create(
            new TagSetOptions { QueueDepth = scenario.Depth, HardwareQueueCount = scenario.Queues },
            probe,
            new DiskOptions { Name = "removed", Capacity = Capacity, Limits = new QueueLimits { MaxSectors = 8 } });
        await using (rig)
        {
            using var stop = new CancellationTokenSource();
            Task completer = Task.Factory.StartNew(() => CompleteCaptured(probe, stop.Token), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            var outcomes = new ConcurrentQueue<string>();
            int completions = 0;
            var submitters = new Task[scenario.Submitters];
            for (int s = 0; s < submitters.Length; s++)
            {
                int seed = scenario.Seed + s;
                submitters[s] = Task.Run(() => SubmitUntilOfflineAsync(rig.Device, seed, outcomes, () => Interlocked.Increment(ref completions)), TestContext.Current.CancellationToken);
            }

            HangGuard.Until(() => Volatile.Read(ref completions) >= scenario.RemoveAfter || submitters.All(static t => t.IsCompleted), "enough IO before removal");
            await rig.Disk.RemoveAsync().AsTask().Guard();
            probe.Seal();
            await Task.WhenAll(submitters).Guard();
            await stop.CancelAsync();
            await completer.Guard();

            Assert.Empty(probe.Violations);
            Assert.All(outcomes, static outcome => Assert.True(outcome is "Ok" or "Offline", $"a submission ended with {outcome}"));
            Assert.Contains("Offline", outcomes);
            Assert.Equal(0, rig.TagSet.TagsInUse);
            Assert.Equal(0, rig.Disk.InFlight);
        }
    }

    private static async Task SubmitUntilOfflineAsync(BlockDevice device, int seed, ConcurrentQueue<string> outcomes, Action completed)
    {
        var random = new Random(seed);
        while (true)
        {
            // Up to 24 sectors against max_sectors 8: many IOs are split, so removal can land between parts.
            int length = random.Next(1, 25) * 512;
            long offset = random.Next(0, (Capacity - length) / 512) * 512L;
            byte[] buffer = new byte[length];
            try
            {
                await (random.Next(2) == 0 ? device.ReadAsync(offset, buffer) : device.WriteAsync(offset, buffer));
                outcomes.Enqueue("Ok");
                completed();
            }
            catch (BlockIOException ex) when (ex.Status == BlockStatus.Offline)
            {
                outcomes.Enqueue("Offline");
                return;
            }
            catch (Exception ex)
            {
                outcomes.Enqueue($"{ex.GetType().Name}: {ex.Message}");
                return;
            }
        }
    }

    private static void CompleteCaptured(DriverProbe probe, CancellationToken stop)
    {
        // The driver's "device": ends what QueueRq kept, from its own thread. After removal a late end is a no-op.
        while (!stop.IsCancellationRequested)
        {
            if (probe.Captured.TryDequeue(out Request<ProbeRequest> request))
            {
                request.TryEnd(BlockStatus.Ok);
            }
            else
            {
                Thread.Yield();
            }
        }
    }

    private sealed record Scenario(int Submitters, int Depth, int Queues, int RemoveAfter, int Seed);
}
