using Blkmq.Concurrency.Tests.Infrastructure;
using CsCheck;
using Microsoft.Extensions.Time.Testing;

namespace Blkmq.Concurrency.Tests;

/// <summary>
/// Rule 1 and 2 under races: copies of one request handle ended from several threads at once. Exactly one end
/// wins, every other fails (End throws <see cref="InvalidOperationException"/>, TryEnd returns false), the
/// submitter sees the winner's status exactly once, and a handle that lost never touches the slot's next IO.
/// </summary>
public sealed class RequestEndRaceTests
{
    private static readonly Gen<BlockStatus> s_endStatus = Gen.OneOf(
        [BlockStatus.Ok, BlockStatus.IoError, BlockStatus.NotSupported, BlockStatus.Invalid, BlockStatus.NoSpace]);

    [Fact]
    public void ParallelEndsOfOneRequest_AreLinearizable_FirstEndWins()
    {
        Gen.Const(static () => new EndRaceState()).SampleParallel(
            [
                s_endStatus.Operation<EndRaceState>(static s => $"End({s})", static (state, status) => state.End(status)),
                s_endStatus.Operation<EndRaceState>(static s => $"TryEnd({s})", static (state, status) => state.TryEnd(status)),
                Gen.Operation<EndRaceState>("ReadSector", static state => state.ReadSector()),
            ],
            equal: static (actual, sequential) => actual.Observe().IsConsistent && actual.Observe() == sequential.Observe(),
            maxSequentialOperations: 2,
            maxParallelOperations: 5,
            iter: 400,
            print: static s => s.ToString());
    }

    [Fact]
    public void RacingEndTryEndAndComplete_ExactlyOneEndWins_SubmitterSeesItsStatus()
    {
        Gen<(RacerKind Kind, BlockStatus Status)[]> racers = Gen.Select(Gen.Enum<RacerKind>(), s_endStatus).Array[2, 4];
        racers.Sample(static r => RunEndRace(r), iter: 300, threads: 1);
    }

    [Fact]
    public async Task LosingHandle_KeepsTryingWhileSlotServesNextIo_NeverTouchesIt()
    {
        // Depth 1: the second IO reuses the first IO's slot at once (the ABA case).
        await using ProbeRig rig = ProbeRig.Create(new TagSetOptions { QueueDepth = 1, TimeProvider = new FakeTimeProvider() });
        rig.Probe.OnQueueRq = rig.Probe.Capture;
        for (int round = 0; round < 200; round++)
        {
            Task<BlockStatus> first = IoStatus.Of(rig.Device.ReadAsync(0, new byte[512]));
            Request<ProbeRequest> stale = rig.Probe.TakeCaptured();
            Request<ProbeRequest> second = default;
            Task<BlockStatus>? next = null;
            int staleWins = 0;
            int staleReadsOfOtherIo = 0;
            using var nextStarted = new ManualResetEventSlim();
            Race.Run(
                () =>
                {
                    // The owner ends the IO, its submitter frees the slot, the next IO takes it.
                    stale.TryEnd(BlockStatus.Ok);
                    HangGuard.Wait(first);
                    next = IoStatus.Of(rig.Device.ReadAsync(4096, new byte[512]));
                    second = rig.Probe.TakeCaptured();
                    nextStarted.Set();
                },
                () =>
                {
                    // A late completion through a stale copy, before, during and after the slot is reused.
                    for (int i = 0; !nextStarted.IsSet || i < 1000; i++)
                    {
                        if (stale.TryEnd(BlockStatus.IoError))
                        {
                            staleWins++;
                        }

                        try
                        {
                            if (stale.Sector != 0)
                            {
                                staleReadsOfOtherIo++;
                            }
                        }
                        catch (InvalidOperationException)
                        {
                            // Dead handle: refuses, as it must.
                        }
                    }
                });

            Assert.Equal(0, staleReadsOfOtherIo);
            Assert.True(staleWins <= 1);
            Assert.Equal(staleWins == 1 ? BlockStatus.IoError : BlockStatus.Ok, await first);

            // The next IO is untouched by all that: still pending, still owned, ended only by its own handle.
            Assert.NotNull(next);
            Assert.False(next.IsCompleted, "the stale handle completed the slot's next IO");
            Assert.True(second.IsOwned);
            Assert.Equal(8, second.Sector);
            second.End(BlockStatus.Ok);
            Assert.Equal(BlockStatus.Ok, await next.Guard());
        }

        Assert.Equal(0, rig.TagSet.TagsInUse);
    }

    private static void RunEndRace((RacerKind Kind, BlockStatus Status)[] racers)
    {
        using var rig = new SyncRig();
        int ends = 0;
        BlockStatus? endedWith = null;
        int completes = 0;
        using var callbackReturned = new ManualResetEventSlim();

        // The Complete callback is one more party that may end it (with the status Complete carried).
        rig.Probe.OnComplete = request =>
        {
            try
            {
                // A racer's End may land first (the driver owns the request again inside Complete); then even
                // reading the status through the handle throws, as a dead handle must.
                BlockStatus status = request.CompletionStatus;
                if (request.TryEnd(status))
                {
                    Interlocked.Increment(ref ends);
                    endedWith = status;
                }
            }
            finally
            {
                callbackReturned.Set();
            }
        };

        Task<BlockStatus> read = IoStatus.Of(rig.Rig.Device.ReadAsync(0, new byte[512]));
        Request<ProbeRequest> handle = rig.Probe.TakeCaptured();
        var actions = new Action[racers.Length];
        for (int i = 0; i < racers.Length; i++)
        {
            (RacerKind kind, BlockStatus status) = racers[i];
            Request<ProbeRequest> copy = handle;
            actions[i] = kind switch
            {
                RacerKind.End => () =>
                {
                    try
                    {
                        copy.End(status);
                        Interlocked.Increment(ref ends);
                        endedWith = status;
                    }
                    catch (InvalidOperationException)
                    {
                        // Lost the race.
                    }
                },
                RacerKind.TryEnd => () =>
                {
                    if (copy.TryEnd(status))
                    {
                        Interlocked.Increment(ref ends);
                        endedWith = status;
                    }
                },
                _ => () =>
                {
                    if (copy.TryComplete(status))
                    {
                        Interlocked.Increment(ref completes);
                    }
                },
            };
        }

        Race.Run(actions);
        BlockStatus seen = read.Wait(HangGuard.Limit, TestContext.Current.CancellationToken)
            ? read.Result
            : throw new TimeoutException("The submitter never saw an end.");
        if (Volatile.Read(ref completes) == 1)
        {
            // The submitter may see the callback's end before the callback has counted it.
            HangGuard.Wait(callbackReturned, "the Complete callback to return");
        }

        Assert.Equal(1, Volatile.Read(ref ends));
        Assert.True(completes <= 1);
        Assert.Equal(endedWith, seen);
        Assert.False(handle.IsOwned);
        HangGuard.Until(() => rig.Rig.TagSet.TagsInUse == 0, "the tag to be freed");
    }

    private enum RacerKind
    {
        End,
        TryEnd,
        Complete,
    }

    /// <summary>A depth-1 probe rig disposed synchronously, for CsCheck's synchronous samples.</summary>
    private sealed class SyncRig : IDisposable
    {
        public SyncRig()
        {
            Rig = ProbeRig.Create(new TagSetOptions { QueueDepth = 1, TimeProvider = new FakeTimeProvider() });
            Rig.Probe.OnQueueRq = Rig.Probe.Capture;
        }

        public ProbeRig Rig { get; }

        public DriverProbe Probe => Rig.Probe;

        public void Dispose() => HangGuard.Wait(Rig.DisposeAsync().AsTask());
    }
}
