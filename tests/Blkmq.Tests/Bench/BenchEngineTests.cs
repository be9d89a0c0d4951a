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

    /// <summary>
    /// Random IO spreads over the whole region and <c>randrw</c> reads its share: each IO's offset and direction are
    /// drawn then (an earlier engine cycled through 4096 offsets per worker, 16 MiB at 4 KiB, and froze the mix).
    /// </summary>
    [Theory]
    [InlineData(ReadWriteMode.RandRead, 100)]
    [InlineData(ReadWriteMode.RandRW, 70)]
    [InlineData(ReadWriteMode.RandRW, 10)]
    public async Task RandomIo_CoversTheRegion_AndKeepsTheReadMix(ReadWriteMode mode, int readPercent)
    {
        var sectors = new HashSet<long>();
        long reads = 0;
        // 256 MiB: 65536 blocks of 4 KiB, far more than one worker's 4096 of the old engine.
        await using TestRig rig = TestRig.Create(fakeTime: false, depth: 16, disk: static o => o with { Capacity = 256 << 20 }, configure: d => d.OnQueueRq = (rq, _) =>
        {
            lock (sectors)
            {
                sectors.Add(rq.Sector);
                reads += rq.Op == RequestOp.Read ? 1 : 0;
            }

            rq.End(BlockStatus.Ok);
            return BlockStatus.Ok;
        });
        const int Ios = 40_000;
        var settings = new BenchSettings { Mode = mode, BlockSize = 4096, IoDepth = 1, TotalIos = Ios, ReadMixPercent = readPercent, Size = rig.Disk.Capacity };

        BenchResult result = await Task.Run(() => BenchRunner.Run(rig.Disk, settings, cancellationToken: TestContext.Current.CancellationToken))
            .WaitAsync(s_runTimeout, TestContext.Current.CancellationToken);

        Assert.Equal(0, result.Errors);
        long blocks = rig.Disk.Capacity / 4096;
        double expected = blocks * (1 - Math.Exp(-(double)Ios / blocks)); // distinct blocks of Ios uniform draws
        Assert.InRange(sectors.Count, (int)(expected * 0.95), (int)blocks);
        Assert.InRange((double)reads / Ios, (readPercent / 100.0) - 0.02, (readPercent / 100.0) + 0.02);
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
