using Blkmq.Drivers.Null;
using Blkmq.Metrics;

namespace Blkmq.Tests.Metrics;

/// <summary>
/// The disks' instruments (<c>blkmq.disk.*</c>, <c>blkmq.request.duration</c>) as a <see cref="System.Diagnostics.Metrics.MeterListener"/>
/// sees them: the observable ones read the statistics the disk keeps anyway, the histogram records only while enabled
/// (a sample of IOs by default, every one when asked), and neither allocates per IO.
/// </summary>
public sealed class DiskMetricsTests
{
    // BlkmqMeter.LatencySampling is process-wide and read when a disk is made: the tests that set it run in this one
    // class (one after another); a disk another class makes meanwhile records more or fewer durations, none asserts
    // on that.
    private static NullBlock CreateDisk(string parameters, LatencySampling sampling)
    {
        LatencySampling before = BlkmqMeter.LatencySampling;
        BlkmqMeter.LatencySampling = sampling;
        try
        {
            return NullBlock.Create(parameters);
        }
        finally
        {
            BlkmqMeter.LatencySampling = before;
        }
    }

    [Fact]
    public async Task Observables_AfterReadsWritesAndABadBlock_ReportCountsBytesAndErrorsPerOp()
    {
        string name = UniqueName();
        await using NullBlock nullb = NullBlock.Create($"name={name},memory_backed=1,cache_size=1,discard=1,size=1M,bs=512,irqmode=0,badblocks=64-71");
        Disk disk = nullb.Disk;
        using var collector = new MetricsCollector("disk", disk.Name, enableHistogram: false);
        BlockDevice device = disk.OpenDevice();
        byte[] buffer = new byte[4096];
        for (int i = 0; i < 3; i++)
        {
            await device.WriteAsync(i * 4096L, buffer);
        }

        await device.ReadAsync(0, buffer);
        await device.ReadAsync(4096, buffer);
        Assert.NotEqual(BlockStatus.Ok, await device.ReadStatusAsync(64 * 512, buffer));
        await device.DiscardAsync(0, 8192);
        await device.FlushAsync();

        IReadOnlyDictionary<string, double> values = collector.Collect();

        Assert.Equal(3, values["blkmq.disk.operations{op=read}"]);
        Assert.Equal(3, values["blkmq.disk.operations{op=write}"]);
        Assert.Equal(1, values["blkmq.disk.operations{op=discard}"]);
        Assert.Equal(1, values["blkmq.disk.operations{op=flush}"]);
        Assert.Equal(1, values["blkmq.disk.errors{op=read}"]);
        Assert.Equal(0, values["blkmq.disk.errors{op=write}"]);
        Assert.Equal(3 * 4096, values["blkmq.disk.io{op=write}"]);
        Assert.Equal(8192, values["blkmq.disk.io{op=discard}"]);
        Assert.True(values["blkmq.disk.io{op=read}"] >= 2 * 4096, "the good reads' bytes are counted");
        Assert.Equal(0, values["blkmq.disk.in_flight{}"]);
        Assert.Equal(1 << 20, values["blkmq.disk.capacity{}"]);
        Assert.True(values.ContainsKey("blkmq.disk.io_time{}"));
        Assert.True(values.ContainsKey("blkmq.disk.operation_time{op=read}"));
        Assert.True(values.ContainsKey("blkmq.disk.merged{op=write}"));
    }

    [Fact]
    public async Task Statistics_FailedIo_CountsAnErrorAndAnIo()
    {
        string name = UniqueName();
        await using NullBlock nullb = NullBlock.Create($"name={name},memory_backed=1,size=1M,irqmode=0,badblocks=0-7");
        BlockDevice device = nullb.Disk.OpenDevice();
        byte[] buffer = new byte[4096];
        Assert.NotEqual(BlockStatus.Ok, await device.WriteStatusAsync(0, buffer));
        await device.WriteAsync(8192, buffer);

        DiskStats stats = nullb.Disk.GetStatistics();

        Assert.Equal(2, stats.WriteIos);
        Assert.Equal(1, stats.WriteErrors);
        Assert.Equal(0, stats.ReadErrors);
    }

    [Fact]
    public async Task Histogram_WithoutListener_RecordsNothing_WithListenerAndEvery_OnePerIo()
    {
        string name = UniqueName();
        await using NullBlock nullb = CreateDisk($"name={name},memory_backed=1,cache_size=1,size=1M,irqmode=1", LatencySampling.Every);
        Disk disk = nullb.Disk;
        BlockDevice device = disk.OpenDevice();
        byte[] buffer = new byte[4096];
        using (var countersOnly = new MetricsCollector("disk", disk.Name, enableHistogram: false))
        {
            await device.WriteAsync(0, buffer);
            await device.ReadAsync(0, buffer);
            Assert.Equal(0, countersOnly.DurationCount("read") + countersOnly.DurationCount("write"));
        }

        using var collector = new MetricsCollector("disk", disk.Name, enableHistogram: true);
        for (int i = 0; i < 5; i++)
        {
            await device.WriteAsync(i * 4096L, buffer);
        }

        for (int i = 0; i < 7; i++)
        {
            await device.ReadAsync(i * 4096L, buffer);
        }

        await device.FlushAsync();

        Assert.Equal(5, collector.DurationCount("write"));
        Assert.Equal(7, collector.DurationCount("read"));
        Assert.Equal(1, collector.DurationCount("flush"));
        Assert.Equal(0, collector.DurationOther);
    }

    [Fact]
    public async Task Observables_RemovedDisk_IsNotReported()
    {
        string name = UniqueName();
        NullBlock nullb = NullBlock.Create($"name={name},size=1M,irqmode=0");
        Disk disk = nullb.Disk;
        using var collector = new MetricsCollector("disk", disk.Name, enableHistogram: false);
        await disk.OpenDevice().WriteAsync(0, new byte[4096]);
        Assert.Equal(1, collector.Collect()["blkmq.disk.operations{op=write}"]);

        await nullb.DisposeAsync();

        Assert.Empty(collector.Collect());
    }

    [Fact]
    public void Histogram_Sampled_RecordsAtMostOneIoPerClockTick()
    {
        string name = UniqueName();
        using NullBlock nullb = CreateDisk($"name={name},size=1M,irqmode=0", LatencySampling.Sampled);
        using var collector = new MetricsCollector("disk", nullb.Disk.Name, enableHistogram: true);
        BlockDevice device = nullb.Disk.OpenDevice();
        byte[] buffer = new byte[4096];
        long start = Environment.TickCount64;
        int reads = 0;
        while (Environment.TickCount64 - start < 100)
        {
            ReadMany(device, buffer, 100);
            reads += 100;
        }

        long ticks = Environment.TickCount64 - start + 1;
        long recorded = collector.DurationCount("read");
        Assert.True(recorded >= 5, $"{recorded} of {reads} reads recorded over {ticks} ms: the sample must follow the clock");
        Assert.True(recorded <= ticks, $"{recorded} of {reads} reads recorded over {ticks} ms: at most one per millisecond");
        Assert.Equal((long)reads, nullb.Disk.GetStatistics().ReadIos);
    }

    [Theory]
    [InlineData(false, LatencySampling.Sampled)]
    [InlineData(true, LatencySampling.Sampled)]
    [InlineData(true, LatencySampling.Every)]
    public void SteadyState_WithOrWithoutHistogramListener_AllocatesNothingPerIo(bool histogram, LatencySampling sampling)
    {
        string name = UniqueName();
        using NullBlock nullb = CreateDisk($"name={name},size=1M,irqmode=0", sampling);
        using var collector = new MetricsCollector("disk", nullb.Disk.Name, enableHistogram: histogram);
        BlockDevice device = nullb.Disk.OpenDevice();
        byte[] buffer = new byte[4096];
        ReadMany(device, buffer, 2000);

        AllocationRounds.AssertAllocatesNothing(() => ReadMany(device, buffer, 2000), iosPerRound: 2000);
        if (histogram && sampling == LatencySampling.Every)
        {
            Assert.True(collector.DurationCount("read") >= 4000, "every read was recorded");
        }
    }

    private static string UniqueName() => "metrics" + Guid.NewGuid().ToString("N")[..8];

    private static void ReadMany(BlockDevice device, byte[] buffer, int count)
    {
        for (int i = 0; i < count; i++)
        {
            ValueTask read = device.ReadAsync(i % 64 * 4096L, buffer);
            if (!read.IsCompleted)
            {
                throw new InvalidOperationException("irqmode=0 must complete inline.");
            }

            read.GetAwaiter().GetResult();
        }
    }
}
