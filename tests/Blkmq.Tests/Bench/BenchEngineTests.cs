using Blkmq.Bench;
using Blkmq.Drivers.Null;
using Blkmq.Tests.Infrastructure;

namespace Blkmq.Tests.Bench;

/// <summary>The benchmark engine (Blkmq.Bench) on any disk: a test driver's, the null driver's; its settings checked against the disk.</summary>
public sealed class BenchEngineTests
{
    private static readonly TimeSpan s_runTimeout = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData(ReadWriteMode.RandRead, 1, 4)]
    [InlineData(ReadWriteMode.Write, 2, 2)]
    [InlineData(ReadWriteMode.RandRW, 1, 1)]
    public async Task CountedRun_OnATestDriverDisk_MeasuresNineTenths_NoErrors(ReadWriteMode mode, int jobs, int depth)
    {
        await using TestRig rig = TestRig.Create(fakeTime: false, depth: 16, configure: static d => d.OnQueueRq = static (rq, _) =>
        {
            rq.End(BlockStatus.Ok);
            return BlockStatus.Ok;
        });
        var settings = new BenchSettings { Mode = mode, BlockSize = 4096, Jobs = jobs, IoDepth = depth, TotalIos = 2000, Size = 1 << 20 };

        BenchResult result = await Task.Run(() => BenchRunner.Run(rig.Disk, settings, cancellationToken: TestContext.Current.CancellationToken))
            .WaitAsync(s_runTimeout, TestContext.Current.CancellationToken);

        Assert.Equal(0, result.Errors);
        Assert.False(result.Stalled);
        Assert.Equal(1800, result.Ios);
        Assert.Equal(1800L * 4096, result.Bytes);
        Assert.Equal(1800, result.DiskStats.ReadIos + result.DiskStats.WriteIos);
        Assert.True(result.LatencyNs.Min > 0 && result.LatencyNs.Min <= result.LatencyNs.P50 && result.LatencyNs.P50 <= result.LatencyNs.Max);
    }

    [Fact]
    public async Task CountedRun_OnANullDriverDisk_PolledIO()
    {
        await using NullBlock nullBlock = NullBlock.Create("irqmode=0,poll_queues=1,size=16M");
        var settings = new BenchSettings { BlockSize = 4096, IoDepth = 2, TotalIos = 1000, Size = 16 << 20, Polled = true };

        BenchResult result = await Task.Run(() => BenchRunner.Run(nullBlock.Disk, settings, cancellationToken: TestContext.Current.CancellationToken))
            .WaitAsync(s_runTimeout, TestContext.Current.CancellationToken);

        Assert.Equal(0, result.Errors);
        Assert.Equal(900, result.Ios);
    }

    [Theory]
    [InlineData(1000, 1 << 20, false, "BlockSize")] // not a multiple of the 512-byte block
    [InlineData(4096, 2 << 20, false, "Size")] // larger than the 1 MiB disk
    [InlineData(4096, 1 << 20, true, "Polled")] // no poll queues
    public async Task Run_SettingsThatDoNotFitTheDisk_ArgumentOutOfRange_BeforeAnyIO(int blockSize, long size, bool polled, string parameter)
    {
        await using TestRig rig = TestRig.Create(fakeTime: false);
        var settings = new BenchSettings { BlockSize = blockSize, Size = size, Polled = polled, TotalIos = 100 };
        ArgumentOutOfRangeException error = Assert.Throws<ArgumentOutOfRangeException>(() => BenchRunner.Run(rig.Disk, settings));
        Assert.Equal(parameter, error.ParamName);
        Assert.Equal(0, rig.Data.QueueRqCalls);
    }
}
