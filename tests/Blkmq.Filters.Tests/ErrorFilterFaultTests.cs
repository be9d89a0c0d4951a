using Blkmq.Drivers;

namespace Blkmq.Filters.Tests;

/// <summary>
/// The error filter's bad sectors and fault counters are the null driver's (<c>BadBlockList</c>,
/// <c>FaultInjector</c>): null_blk's <c>badblocks</c> syntax and the kernel's fault_attr interval and times.
/// </summary>
public sealed class ErrorFilterFaultTests
{
    [Fact]
    public async Task Sectors_FailOnlyIoTouchingThem()
    {
        await using DriverInstance stack = Stacks.Create("memory:size=1M,bs=512|error:sectors=8-15;100");
        BlockDevice device = stack.Disk.OpenDevice();
        byte[] buffer = new byte[4096];

        Assert.Equal(BlockStatus.Ok, await device.ReadStatusAsync(0, buffer));
        Assert.Equal(BlockStatus.IoError, await device.ReadStatusAsync(4096, buffer));
        Assert.Equal(BlockStatus.IoError, await device.ReadStatusAsync(512, buffer));
        Assert.Equal(BlockStatus.Ok, await device.ReadStatusAsync(8192, buffer));
        Assert.Equal(BlockStatus.IoError, await device.WriteStatusAsync(100 * 512, buffer.AsMemory(0, 512)));
        Assert.Equal(BlockStatus.Ok, await device.WriteStatusAsync(101 * 512, buffer.AsMemory(0, 512)));
        Assert.Equal(BlockStatus.Ok, await device.FlushStatusAsync());
    }

    [Theory]
    [InlineData("memory:size=1M")]
    [InlineData("memory:size=1M,cache_size=1")]
    public async Task OpsFlush_FailsFlushes_EvenOverADiskWithoutAWriteCache(string driver)
    {
        // A disk without a write cache ends flushes at once, so the filter's disk has one: else ops=flush failed nothing.
        await using DriverInstance stack = Stacks.Create(driver + "|error:ops=flush");
        BlockDevice device = stack.Disk.OpenDevice();
        Assert.Equal(BlockStatus.IoError, await device.FlushStatusAsync());
        Assert.Equal(BlockStatus.Ok, await device.WriteStatusAsync(0, new byte[4096]));
        Assert.Equal(BlockStatus.Ok, await device.ReadStatusAsync(0, new byte[4096]));
    }

    [Fact]
    public async Task Times_FailsThatManyIosThenPasses()
    {
        await using DriverInstance stack = Stacks.Create("memory:size=1M|error:times=2,error=ENOSPC");
        BlockDevice device = stack.Disk.OpenDevice();
        byte[] buffer = new byte[4096];

        Assert.Equal(BlockStatus.NoSpace, await device.ReadStatusAsync(0, buffer));
        Assert.Equal(BlockStatus.NoSpace, await device.ReadStatusAsync(0, buffer));
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(BlockStatus.Ok, await device.ReadStatusAsync(0, buffer));
        }
    }

    [Fact]
    public async Task Interval_FailsEveryNthMatchingIo_OthersDoNotCount()
    {
        await using DriverInstance stack = Stacks.Create("memory:size=1M|error:interval=3,times=-1,ops=read");
        BlockDevice device = stack.Disk.OpenDevice();
        byte[] buffer = new byte[4096];
        var statuses = new List<BlockStatus>();
        for (int i = 0; i < 6; i++)
        {
            // Writes do not match ops=read: they neither fail nor count towards the interval.
            Assert.Equal(BlockStatus.Ok, await device.WriteStatusAsync(0, buffer));
            statuses.Add(await device.ReadStatusAsync(0, buffer));
        }

        Assert.Equal(
            [BlockStatus.Ok, BlockStatus.Ok, BlockStatus.IoError, BlockStatus.Ok, BlockStatus.Ok, BlockStatus.IoError],
            statuses);
    }

    [Fact]
    public async Task Parameters_ShowTheSettingsBack()
    {
        await using DriverInstance stack = Stacks.Create("memory:size=1M|error:sectors=16-23;0-7;8,interval=2,times=5");
        Assert.Contains("sectors=0-8;16-23,interval=2,times=5", Describe(stack), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("memory|error:sectors=9-3", "filter 'error': sectors=9-3: '9-3' is not a sector range start-end with start <= end. (512-byte sectors, ranges separated by ';').")]
    [InlineData("memory|error:times=-2", "filter 'error': times=-2")]
    [InlineData("memory|error:interval=0", "filter 'error': interval=0")]
    public void BadSettings_OneLineError(string stack, string message)
    {
        FormatException error = Assert.Throws<FormatException>(() => Stacks.Create(stack));
        Assert.StartsWith(message, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
    }

    private static string Describe(DriverInstance stack) => stack.Summary + " " + stack.Parameters;
}
