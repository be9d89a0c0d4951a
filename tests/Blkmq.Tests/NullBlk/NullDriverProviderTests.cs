using Blkmq.Drivers;
using Blkmq.Drivers.Null;

namespace Blkmq.Tests.NullBlk;

/// <summary>The null driver's registry entries: <c>null</c> and <c>memory</c> keep what serve and bench always meant by them.</summary>
public sealed class NullDriverProviderTests
{
    [Fact]
    public void Register_AddsNullAndMemory()
    {
        var registry = new DriverRegistry();
        NullDriverProvider.Register(registry);
        Assert.Equal(["memory", "null"], registry.Drivers.Select(static d => d.Name));
    }

    [Theory]
    [InlineData("", "vm0")]
    [InlineData("nr_devices=3", "vm0 vm1 vm2")]
    [InlineData("name=x,nr_devices=2", "x0 x1")]
    public async Task DiskNames_AreTheNamesCreateGives(string parameters, string names)
    {
        var options = new DriverCreateOptions { DiskName = "vm", DefaultSize = 1 << 20 };
        Assert.Equal(names.Split(' '), NullDriverProvider.Memory.DiskNames(parameters, options));
        await using DriverInstance instance = NullDriverProvider.Memory.Create(parameters, options);
        Assert.Equal(names.Split(' '), instance.Disks.Select(static d => d.Name));
    }

    [Fact]
    public void Parameters_DescribeEveryNullBlkParameter()
    {
        foreach (string name in NullBlockOptions.ParameterNames.Where(static n => n != "blocksize"))
        {
            Assert.True(NullDriverProvider.Null.HasParameter(name), name);
            Assert.True(NullDriverProvider.Memory.HasParameter(name), name);
        }
    }

    [Fact]
    public void Parameters_ShowEachDriversDefaults()
    {
        Assert.Equal("250G", Default(NullDriverProvider.Null, "size"));
        Assert.Equal("1G", Default(NullDriverProvider.Memory, "size"));
        Assert.Equal("0", Default(NullDriverProvider.Null, "memory_backed"));
        Assert.Equal("1", Default(NullDriverProvider.Memory, "memory_backed"));
        Assert.Equal("1", Default(NullDriverProvider.Memory, "irqmode"));
    }

    [Fact]
    public async Task Memory_IsNullWithMemoryBackingDiscardAnd1G()
    {
        await using DriverInstance instance = NullDriverProvider.Memory.Create(string.Empty, new DriverCreateOptions { DiskName = "disk" });
        NullBlockOptions options = ((NullBlock)instance.Owner).Options;
        Assert.True(options.MemoryBacked);
        Assert.True(options.Discard);
        Assert.Equal(1L << 30, options.Size);
        Assert.Equal("disk", options.Name);
        Assert.Equal(IrqMode.SoftIrq, options.IrqMode);
    }

    [Fact]
    public void Parameters_WinOverBaseAndDiskName()
    {
        NullBlockOptions options = NullDriverProvider.ParseOptions(MemoryBase(), "size=64M,discard=0,name=other", new DriverCreateOptions { DiskName = "disk" });
        Assert.Equal(64L << 20, options.Size);
        Assert.False(options.Discard);
        Assert.Equal("other", options.Name);
    }

    [Theory]
    [InlineData("", 1000L, 1024L)] // rounded up to whole 512-byte blocks
    [InlineData("bs=4096", 5000L, 8192L)]
    [InlineData("size=64M", 1000L, 64L << 20)] // the parameters win
    [InlineData("gb=2", 1000L, 2L << 30)]
    public void DefaultSize_UsedUnlessTheParametersSetOne(string parameters, long defaultSize, long expected) =>
        Assert.Equal(expected, NullDriverProvider.ParseOptions(new NullBlockOptions(), parameters, new DriverCreateOptions { DefaultSize = defaultSize }).Size);

    [Fact]
    public async Task Create_Memory_DiskKeepsData_SummaryAndParametersDescribeIt()
    {
        await using DriverInstance instance = NullDriverProvider.Memory.Create("size=64M,irqmode=0", new DriverCreateOptions { DiskName = "disk" });
        Assert.Equal("memory", instance.DriverName);
        Assert.IsType<NullBlock>(instance.Owner);
        Assert.Equal(64L << 20, instance.Disk.Capacity);
        Assert.True(instance.Disk.ReadsFillBuffers);
        Assert.Equal($"memory disk, {64L << 20} bytes, 512-byte blocks", instance.Summary);
        Assert.Contains("irqmode=0,", instance.Parameters, StringComparison.Ordinal);
        Assert.Contains("memory_backed=1", instance.Parameters, StringComparison.Ordinal);
        Assert.Equal(TimeSpan.Zero, instance.CompletionDelay);
    }

    [Fact]
    public async Task Create_TimerMode_CompletionDelayIsCompletionNsec()
    {
        await using DriverInstance instance = NullDriverProvider.Null.Create("size=1M,irqmode=2,completion_nsec=250000");
        Assert.Equal(TimeSpan.FromMicroseconds(250), instance.CompletionDelay);
        Assert.Equal("null disk, 1048576 bytes, 512-byte blocks", instance.Summary);
    }

    [Theory]
    [InlineData("frobnicate=1")]
    [InlineData("size=lots")]
    public void Create_BadParameters_FormatException(string parameters) =>
        Assert.Throws<FormatException>(() => NullDriverProvider.Null.Create(parameters));

    [Fact]
    public void Create_OutOfRange_ArgumentException() =>
        Assert.ThrowsAny<ArgumentException>(() => NullDriverProvider.Null.Create("bs=1000"));

    private static NullBlockOptions MemoryBase() => NullBlockOptions.Parse("memory_backed=1,discard=1,size=1G");

    private static string Default(DriverDescriptor driver, string name) => driver.Parameters.Single(p => p.Name == name).DefaultValue;
}
