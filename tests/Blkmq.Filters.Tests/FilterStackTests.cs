using Blkmq.Drivers;
using Blkmq.Drivers.Null;

namespace Blkmq.Filters.Tests;

/// <summary>Stacks: the syntax, bad stacks refused in one line before anything is created, and data through layers.</summary>
public sealed class FilterStackTests
{
    [Theory]
    [InlineData("memory|bogus", "unknown filter 'bogus' (known: ")]
    [InlineData("memory||stats", "stack 'memory||stats': empty filter after '|' number 1.")]
    [InlineData("|stats", "stack '|stats': it must start with a driver")]
    [InlineData("cow|memory", "stack 'cow|memory': 'cow' is a filter; a stack starts with a driver")]
    [InlineData("memory|delay:foo=1", "filter 'delay': unknown parameter 'foo' (known: read, write, flush, trim, zero, all).")]
    [InlineData("memory|delay:read=fast", "filter 'delay': read=fast is not a duration")]
    [InlineData("memory|delay:read=NaN", "filter 'delay': read=NaN is not a duration (e.g. 5ms, 2s; units ns, us, ms, s, m, h in lowercase; a bare number is milliseconds).")]
    [InlineData("memory|delay:write=Infinitys", "filter 'delay': write=Infinitys is not a duration (e.g. 5ms, 2s;")]
    [InlineData("memory|delay:read=1e400", "filter 'delay': read=1e400 is not a duration (e.g. 5ms, 2s;")]
    [InlineData("memory|delay:read=1e300", "filter 'delay': read=1e300 is too long (at most 24h).")]
    [InlineData("memory|delay:all=25h", "filter 'delay': all=25h is too long (at most 24h).")]
    [InlineData("memory|delay:read=1M", "filter 'delay': read=1M is not a duration (e.g. 5ms, 2s; units ns, us, ms, s, m, h in lowercase;")]
    [InlineData("memory|delay:read=5MS", "filter 'delay': read=5MS is not a duration")]
    [InlineData("memory|delay:read=-1ms", "filter 'delay': read=-1ms is not a duration")]
    [InlineData("memory|flakey:up=NaN", "filter 'flakey': up=NaN is not a duration")]
    [InlineData("memory|rate:rate=1M,burst=1e300s", "filter 'rate': burst=1e300s is too long (at most 24h).")]
    [InlineData("memory|error:error=EWHAT", "filter 'error': error=EWHAT is not one of EIO")]
    [InlineData("memory|error:rate=150%", "filter 'error': rate=150% must be from 0% to 100%.")]
    [InlineData("memory|rate", "filter 'rate': give rate=BYTES")]
    [InlineData("memory:size=1M|offset:offset=2M", "filter 'offset': offset=2097152 must be a multiple of 512 inside the disk")]
    [InlineData("memory:size=1M|partition", "filter 'partition': the disk has no MBR or GPT partition table.")]
    [InlineData("memory|blocksize:min=3000", "filter 'blocksize': min=3000 must be a power of two")]
    [InlineData("memory|stats:x", "filter 'stats': 'x' is not key=value.")]
    [InlineData("memory|blocksize:min=8K", "filter 'blocksize': min=8192 must be a power of two from the disk's block size (512) to 4K.")]
    [InlineData("memory|cow:file=", "filter 'cow': 'file=' has no value.")]
    [InlineData("memory|log-writes:file=", "filter 'log-writes': 'file=' has no value.")]
    public void BadStack_OneLineFormatException(string stack, string message)
    {
        FormatException error = Assert.Throws<FormatException>(() => Stacks.Create(stack));
        Assert.StartsWith(message, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void LogWrites_OnAFileThatTakesNoWrites_IsOneLineNamingIt()
    {
        IOException error = Assert.Throws<IOException>(() => Stacks.Create("memory|log-writes:file=/proc/version"));
        Assert.StartsWith("filter 'log-writes': file=/proc/version: ", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Theory]
    [InlineData("250", 250)]
    [InlineData("1.5ms", 1.5)]
    [InlineData("100us", 0.1)]
    [InlineData("2000000ns", 2)]
    [InlineData("2s", 2000)]
    [InlineData("1m", 60_000)]
    [InlineData("0.5h", 1_800_000)]
    [InlineData("24h", 86_400_000)]
    [InlineData("1e3", 1000)]
    public async Task Duration_UnitsAndBareMilliseconds(string text, double milliseconds)
    {
        await using DriverInstance stack = Stacks.Create($"memory:size=1M|delay:read={text}");
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), FilterStack.FindFilters(stack).Single().CompletionDelay);
    }

    [Theory]
    [InlineData("cow")]
    [InlineData("blocksize:min=4096")]
    [InlineData("flakey:up=1,down=1")]
    public void ZonedDisk_AFilterThatRewritesWrites_IsRefused(string filter)
    {
        ArgumentException error = Assert.ThrowsAny<ArgumentException>(() => Stacks.Create("memory:zoned=1,zone_size=1,size=4M|" + filter));
        string name = filter.Split(':')[0];
        Assert.Contains($"filter '{name}' cannot sit on zoned disk", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public async Task ThreeFilters_DataRoundTrips_AndShapeIsForwarded()
    {
        await using DriverInstance stack = Stacks.Create("memory:size=8M,bs=4096|stats|delay:write=1ms|pass");
        Assert.Equal("memory|stats|delay|pass", stack.DriverName);
        Disk disk = stack.Disk;
        Assert.Equal(8L << 20, disk.Capacity);
        Assert.Equal(4096, disk.Limits.LogicalBlockSize);
        Assert.True(disk.ReadsFillBuffers);
        Assert.Equal(3, FilterStack.FindFilters(stack).Count());

        BlockDevice device = disk.OpenDevice();
        byte[] data = Stacks.Pattern(64 << 10, 1);
        await device.WriteAsync(1 << 20, data);
        await device.FlushAsync();
        byte[] back = new byte[data.Length];
        await device.ReadAsync(1 << 20, back);
        Assert.Equal(data, back);
        await device.DiscardAsync(1 << 20, 4096);
        await device.ReadAsync(1 << 20, back.AsMemory(0, 4096));
        Assert.All(back.AsSpan(0, 4096).ToArray(), static b => Assert.Equal(0, b));
    }

    [Fact]
    public async Task ManyConcurrentIos_ThroughAStack_AllLand()
    {
        await using DriverInstance stack = Stacks.Create("memory:size=16M,irqmode=1|pass|stats");
        BlockDevice device = stack.Disk.OpenDevice();
        var writes = new List<Task>();
        for (int i = 0; i < 256; i++)
        {
            writes.Add(device.WriteAsync(i * 65536L, Stacks.Pattern(65536, i)).AsTask());
        }

        await Task.WhenAll(writes);
        for (int i = 0; i < 256; i += 17)
        {
            byte[] back = new byte[65536];
            await device.ReadAsync(i * 65536L, back);
            Assert.Equal(Stacks.Pattern(65536, i), back);
        }
    }

    [Fact]
    public async Task TwoStatsFilters_ReportsNameTheirPlace_OneStatsFilter_ReportsAsItIs()
    {
        await using DriverInstance two = Stacks.Create("memory:size=1M|stats|pass|stats");
        await two.Disk.OpenDevice().ReadAsync(0, new byte[4096]);
        List<string> reports = FilterStack.Reports(two);
        Assert.Equal(2, reports.Count);
        Assert.StartsWith("filter 3: stats: elapsed ", reports[0], StringComparison.Ordinal);
        Assert.StartsWith("filter 1: stats: elapsed ", reports[1], StringComparison.Ordinal);

        await using DriverInstance one = Stacks.Create("memory:size=1M|pass|stats");
        Assert.StartsWith("stats: elapsed ", Assert.Single(FilterStack.Reports(one)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task FlushOfTheDriversDisk_EmptiesItsCache_AndNoFilterSeesIt()
    {
        // serve's flush at stop goes there: the server's flush, not a client's, kept out of stats' counts and logs.
        await using DriverInstance stack = Stacks.Create("memory:size=1M,cache_size=1|stats");
        await stack.Disk.OpenDevice().WriteAsync(0, Stacks.Pattern(4096, 1));
        NullDevice device = ((NullBlock)FilterStack.Driver(stack).Owner).Devices[0];
        Assert.Equal(4096, device.CachedBytes);

        await FilterStack.Driver(stack).Disk.OpenDevice().FlushAsync();

        Assert.Equal(0, device.CachedBytes);
        Assert.Equal(0, stack.Disk.GetStatistics().FlushIos);
        Assert.NotSame(stack, FilterStack.Driver(stack));
    }

    [Fact]
    public async Task ReadOnlyFilter_RefusesWrites_ReadsPass()
    {
        await using DriverInstance stack = Stacks.Create("memory:size=1M|readonly");
        Assert.True(stack.Disk.IsReadOnly);
        BlockDevice device = stack.Disk.OpenDevice();
        Assert.NotEqual(BlockStatus.Ok, await device.WriteStatusAsync(0, new byte[512]));
        Assert.Equal(BlockStatus.Ok, await device.ReadStatusAsync(0, new byte[512]));
    }
}
