using Blkmq.Drivers.Null;
using Blkmq.Emulation;
using Blkmq.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace Blkmq.Tests.NullBlk;

/// <summary>The timeout, requeue and init_hctx fault injection parameters, with IO in each of the <see cref="CompletionModes"/>.</summary>
public sealed class NullBlkFaultInjectionTests
{
    [Fact]
    public void FaultAttribute_FollowsTheKernelsShouldFail()
    {
        // Every third eligible call fails, twice in all.
        FaultInjector interval = FaultInjector.Create(FaultAttribute.Parse("3,100,0,2"))!;
        Assert.Equal(
            [false, false, true, false, false, true, false, false, false],
            Enumerable.Range(0, 9).Select(_ => interval.ShouldFail()));

        // Space 3 lets two calls pass (the kernel counts 1 per call and fails once space is no longer above it).
        FaultInjector space = FaultInjector.Create(FaultAttribute.Parse("1,100,3,-1"))!;
        Assert.Equal([false, false, true, true], Enumerable.Range(0, 4).Select(_ => space.ShouldFail()));

        Assert.Null(FaultInjector.Create(FaultAttribute.Parse("1,0,0,-1")));
        Assert.Null(FaultInjector.Create(FaultAttribute.Parse("1,100,0,0")));
    }

    [Theory]
    [MemberData(nameof(CompletionModes.All), MemberType = typeof(CompletionModes))]
    public async Task TimeoutFault_TheRequestIsNeverEndedSoTheBlockLayerTimesItOut(string mode)
    {
        var time = new FakeTimeProvider();
        await using NullBlock nullb = NullBlock.Create(NullBlockOptions.Parse("timeout=1,100,0,1,size=1M," + mode) with
        {
            TimeProvider = time,
            RequestTimeout = TimeSpan.FromSeconds(5),
        });
        ModeDevice device = CompletionModes.Open(nullb.Disk, mode);
        Task swallowed = device.ReadAsync(0, new byte[512]);
        Assert.False(swallowed.IsCompleted);

        time.Advance(TimeSpan.FromSeconds(7));
        BlockIOException error = await Assert.ThrowsAsync<BlockIOException>(() => swallowed.Guard());
        Assert.Equal(BlockStatus.Timeout, error.Status);

        // times=1: the next request is not touched.
        await device.ReadAsync(0, new byte[512]);
    }

    [Theory]
    [MemberData(nameof(CompletionModes.All), MemberType = typeof(CompletionModes))]
    public async Task RequeueFault_TheRequestIsRefusedAndRetriedByTheBlockLayer(string mode)
    {
        var time = new FakeTimeProvider();
        await using NullBlock nullb = NullBlock.Create(NullBlockOptions.Parse("requeue=1,100,0,1,size=1M," + mode) with { TimeProvider = time });
        ModeDevice device = CompletionModes.Open(nullb.Disk, mode);
        Task requeued = device.ReadAsync(0, new byte[512]);

        // Busy: back on the dispatch list; on a frozen clock the restart timer has not fired.
        Assert.False(requeued.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(10));
        await requeued.Guard();
        await device.ReadAsync(0, new byte[512]);
    }

    [Theory]
    [MemberData(nameof(CompletionModes.All), MemberType = typeof(CompletionModes))]
    public void InitHctxFault_FailsTheDisksCreation(string mode) =>
        Assert.Throws<IOException>(() => NullBlock.Create("init_hctx=1,100,0,1,size=1M," + mode));

    [Theory]
    [MemberData(nameof(CompletionModes.All), MemberType = typeof(CompletionModes))]
    public async Task InitHctxFault_OnAnAddedDevice_LeavesTheInstanceRunning(string mode)
    {
        await using NullBlock nullb = NullBlock.Create("submit_queues=2,size=1M," + mode);

        // interval 2: the second queue of the new device fails.
        Assert.Throws<IOException>(() => nullb.AddDevice(nullb.Options with { InitHctxFault = FaultAttribute.Parse("2,100,0,1") }));
        Assert.Single(nullb.Devices);
        Assert.Single(nullb.Disks);

        NullDevice added = nullb.AddDevice();
        Assert.Equal("nullb1", added.Name);
        await CompletionModes.Open(added.Disk!, mode).ReadAsync(0, new byte[512]);
    }
}
