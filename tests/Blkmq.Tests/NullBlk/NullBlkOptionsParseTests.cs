using Blkmq.Drivers.Null;
using Blkmq.Emulation;

namespace Blkmq.Tests.NullBlk;

/// <summary>null_blk's parameter names, units and defaults, as text and as the .NET options.</summary>
public sealed class NullBlkOptionsParseTests
{
    [Fact]
    public void Defaults_AreNullBlks()
    {
        var options = new NullBlockOptions();
        Assert.True(options.Fua);
        Assert.Equal(0, options.CacheSize);
        Assert.Equal(0, options.Mbps);
        Assert.False(options.Zoned);
        Assert.Equal(256L << 20, options.ZoneSize);
        Assert.Equal(0, options.ZoneCapacity);
        Assert.Equal(int.MaxValue, options.MaxZoneAppendSectors);
        Assert.Empty(options.BadBlocks);
        Assert.Null(options.TimeoutFault);
    }

    [Fact]
    public void Parse_NewParameters_UseNullBlkNamesAndUnits()
    {
        NullBlockOptions options = NullBlockOptions.Parse(
            "no_sched=1,virt_boundary=1,cache_size=2,fua=0,mbps=20,badblocks_once=1,badblocks_partial_io=1,zoned=1,zone_size=4,"
            + "zone_capacity=2,zone_nr_conv=1,zone_max_open=2,zone_max_active=3,zone_append_max_sectors=64,zone_full=1,blocksize=4096");
        Assert.True(options.NoScheduler);
        Assert.True(options.VirtBoundary);
        Assert.Equal(2L << 20, options.CacheSize);
        Assert.False(options.Fua);
        Assert.Equal(20, options.Mbps);
        Assert.True(options.BadBlocksOnce);
        Assert.True(options.BadBlocksPartialIO);
        Assert.True(options.Zoned);
        Assert.Equal(4L << 20, options.ZoneSize);
        Assert.Equal(2L << 20, options.ZoneCapacity);
        Assert.Equal(1, options.ConventionalZones);
        Assert.Equal(2, options.MaxOpenZones);
        Assert.Equal(3, options.MaxActiveZones);
        Assert.Equal(64, options.MaxZoneAppendSectors);
        Assert.True(options.ZoneFull);
        Assert.Equal(4096, options.BlockSize);
    }

    [Fact]
    public void Parse_SizesWithSuffix_AreBytes()
    {
        NullBlockOptions options = NullBlockOptions.Parse("zone_size=64K,zone_capacity=32K,cache_size=512K");
        Assert.Equal(64 << 10, options.ZoneSize);
        Assert.Equal(32 << 10, options.ZoneCapacity);
        Assert.Equal(512 << 10, options.CacheSize);
    }

    [Fact]
    public void Parse_FaultAttributes_InTheKernelFormatInsideASpec()
    {
        NullBlockOptions options = NullBlockOptions.Parse("timeout=1,100,0,-1,irqmode=0,requeue=2:50:3:4,init_hctx=5,100,0,1,memory_backed");
        Assert.Equal(new FaultAttribute { Interval = 1, Probability = 100, Space = 0, Times = -1 }, options.TimeoutFault);
        Assert.Equal(new FaultAttribute { Interval = 2, Probability = 50, Space = 3, Times = 4 }, options.RequeueFault);
        Assert.Equal(new FaultAttribute { Interval = 5, Probability = 100, Space = 0, Times = 1 }, options.InitHctxFault);
        Assert.Equal(IrqMode.None, options.IrqMode);
        Assert.True(options.MemoryBacked);
        Assert.Equal("1,100,0,-1", options.TimeoutFault!.ToString());
    }

    [Fact]
    public void Parse_BadBlocks_RangesAreInclusiveSectors()
    {
        NullBlockOptions options = NullBlockOptions.Parse("badblocks=+0-7,100-107;200,irqmode=0");
        Assert.Equal([new BadBlockRange(0, 8), new BadBlockRange(100, 8), new BadBlockRange(200, 1)], options.BadBlocks);
    }

    [Theory]
    [InlineData("timeout=1,2,3")]
    [InlineData("requeue=a,b,c,d")]
    [InlineData("badblocks=9-3")]
    [InlineData("mbps=fast")]
    [InlineData("size=16777217T")] // 2^64 + 1 TiB: wrapped to 1 TiB
    [InlineData("size=17179869185G")]
    [InlineData("gb=17179869185")] // wrapped to 1 GiB
    [InlineData("cache_size=17592186044417")] // MiB: wrapped to 1 MiB
    [InlineData("zone_size=17592186044417")]
    [InlineData("bs=4294967808")] // 2^32 + 512: wrapped to 512
    [InlineData("cache_size=-1")] // SizeParser refuses signs
    [InlineData("gb=-1")]
    [InlineData("size=-4K")]
    public void Parse_MalformedValue_FormatException(string spec) =>
        Assert.Throws<FormatException>(() => NullBlockOptions.Parse(spec));

    [Theory]
    [InlineData("zoned=1,zone_size=3,size=64M")]
    [InlineData("zoned=1,zone_size=128,size=64M")]
    [InlineData("zoned=1,zone_size=4,zone_capacity=8,size=64M")]
    [InlineData("zoned=1,zone_size=4,zone_capacity=2,size=66M")]
    [InlineData("mbps=50000")]
    [InlineData("timeout=1,101,0,1")]
    [InlineData("requeue=1,100,0,-2")]
    public void Validate_OutOfRange_Throws(string spec) =>
        Assert.ThrowsAny<ArgumentException>(() => NullBlockOptions.Parse(spec).Validate());

    [Fact]
    public void ParameterNames_ListEveryNewParameter()
    {
        foreach (string name in new[]
        {
            "no_sched", "virt_boundary", "cache_size", "fua", "mbps", "badblocks", "badblocks_once", "badblocks_partial_io",
            "timeout", "requeue", "init_hctx", "zoned", "zone_size", "zone_capacity", "zone_nr_conv", "zone_max_open",
            "zone_max_active", "zone_append_max_sectors", "zone_full",
        })
        {
            Assert.Contains(name, NullBlockOptions.ParameterNames);
        }
    }

    [Theory]
    [InlineData("size=4k", 4096L)]
    [InlineData("size=1GiB", 1L << 30)]
    [InlineData("gb=2", 2L << 30)]
    [InlineData("gb=2G", 2L << 30)] // a suffix says what it means, whatever the parameter's unit
    [InlineData("cache_size=3", 3L << 20)] // MiB, as null_blk
    [InlineData("cache_size=512K", 512L << 10)]
    public void Parse_Sizes_GoThroughTheOneSizeParser(string spec, long expected)
    {
        NullBlockOptions options = NullBlockOptions.Parse(spec);
        Assert.Equal(expected, spec.StartsWith("cache_size", StringComparison.Ordinal) ? options.CacheSize : options.Size);
    }

    [Fact]
    public void Parse_TooLarge_NamesTheParameter()
    {
        FormatException error = Assert.Throws<FormatException>(() => NullBlockOptions.Parse("size=16777217T"));
        Assert.Equal("size: '16777217T' is too large.", error.Message);
    }
}
