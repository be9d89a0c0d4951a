using Blkmq.Concurrency.Tests.Infrastructure;
using CsCheck;
using Microsoft.Extensions.Time.Testing;

namespace Blkmq.Concurrency.Tests;

/// <summary>
/// Rules 4 and 5 under races: a driver's end from another thread racing the timeout scan of the same request,
/// with the driver's <c>Timeout</c> callback doing nothing, ending the request itself, or asking for more time.
/// Exactly one end wins; the losers are harmless no-ops; the submitter sees the winner's status; the stale
/// handle never touches the slot's next IO.
/// </summary>
public sealed class EndVersusTimeoutRaceTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(1);

    // The periodic scan runs every timeout / 4 from the tag set's creation.
    private static readonly TimeSpan s_scanPeriod = s_timeout / 4;

    private enum TimeoutBehaviour
    {
        LetItTimeOut,
        EndItInTheCallback,
        AskForMoreTime,
    }

    [Fact]
    public async Task EndFromAnotherThread_RacingTimeoutScan_ExactlyOneWins()
    {
        // The spins stagger the racers by up to a few microseconds either way, so that both orders and the
        // overlapping middle all come up.
        Gen<(TimeoutBehaviour Behaviour, BlockStatus Status, int ScanSpin, int EndSpin)> scenarios = Gen.Select(
            Gen.Enum<TimeoutBehaviour>(),
            Gen.OneOf([BlockStatus.Ok, BlockStatus.IoError, BlockStatus.NoSpace]),
            Gen.Int[0, 400],
            Gen.Int[0, 4000]);
        await scenarios.SampleAsync(static s => RunAsync(s.Behaviour, s.Status, s.ScanSpin, s.EndSpin), iter: 600, threads: 1);
    }

    private static async Task RunAsync(TimeoutBehaviour behaviour, BlockStatus status, int scanSpin, int endSpin)
    {
        var time = new FakeTimeProvider();
        await using ProbeRig rig = ProbeRig.Create(new TagSetOptions { QueueDepth = 1, RequestTimeout = s_timeout, TimeProvider = time });
        rig.Probe.OnQueueRq = rig.Probe.Capture;
        int callbackEnds = 0;
        rig.Probe.OnTimeout = behaviour switch
        {
            TimeoutBehaviour.EndItInTheCallback => request =>
            {
                if (request.TryEnd(BlockStatus.ZoneError))
                {
                    Interlocked.Increment(ref callbackEnds);
                }

                return TimeoutAction.Done;
            },
            TimeoutBehaviour.AskForMoreTime => static _ => TimeoutAction.ResetTimer,
            _ => static _ => TimeoutAction.Done,
        };

        // Submit just before a periodic scan, then move the clock to the request's deadline exactly: every scan so
        // far saw it before its deadline, the next periodic one is still ahead, and an on-demand scan now expires it.
        // (In 1 ms steps: the fake clock runs the timers due within one Advance at the end time of that Advance.)
        Step(time, s_scanPeriod - TimeSpan.FromMilliseconds(1));
        Task<BlockStatus> read = IoStatus.Of(rig.Device.ReadAsync(0, new byte[512]));
        Request<ProbeRequest> handle = rig.Probe.TakeCaptured();
        Step(time, s_timeout);
        Assert.True(handle.IsOwned, "the periodic scan already timed the request out: the test's clock arithmetic is off");

        bool driverEnded = false;
        Race.Run(
            () =>
            {
                Thread.SpinWait(scanSpin);
                rig.TagSet.ScanTimeouts();
            },
            () =>
            {
                Thread.SpinWait(endSpin);
                driverEnded = handle.TryEnd(status);
            });

        if (behaviour == TimeoutBehaviour.AskForMoreTime && !driverEnded)
        {
            Assert.Fail("The driver asked for more time, so its end must win.");
        }

        if (behaviour == TimeoutBehaviour.AskForMoreTime)
        {
            Assert.Equal(status, await read.Guard());
        }
        else
        {
            BlockStatus seen = await read.Guard();
            int winners = (driverEnded ? 1 : 0) + callbackEnds;
            Assert.True(winners <= 1, $"{winners} ends won");
            BlockStatus expected = driverEnded ? status : callbackEnds == 1 ? BlockStatus.ZoneError : BlockStatus.Timeout;
            Assert.Equal(expected, seen);
        }

        Assert.False(handle.IsOwned);
        Assert.True(rig.Probe.Calls(CallbackKind.Timeout) <= 1);

        // The loser's handle is dead for good: it cannot end or read the slot's next IO.
        Task<BlockStatus> next = IoStatus.Of(rig.Device.ReadAsync(4096, new byte[512]));
        Request<ProbeRequest> nextHandle = rig.Probe.TakeCaptured();
        Assert.False(handle.TryEnd(BlockStatus.IoError));
        Assert.Throws<InvalidOperationException>(() => handle.Sector);
        Assert.False(next.IsCompleted);
        Assert.Equal(8, nextHandle.Sector);
        nextHandle.EndOk();
        Assert.Equal(BlockStatus.Ok, await next.Guard());
        Assert.Equal(0, rig.TagSet.TagsInUse);
    }

    private static void Step(FakeTimeProvider time, TimeSpan by)
    {
        for (TimeSpan done = TimeSpan.Zero; done < by; done += TimeSpan.FromMilliseconds(1))
        {
            time.Advance(TimeSpan.FromMilliseconds(1));
        }
    }
}
