using Blkmq.Drivers.Null;
using Blkmq.Tests.Infrastructure;

namespace Blkmq.Tests;

public sealed class BadInputTests
{
    [Theory]
    [InlineData(0, 0, 64)]
    [InlineData(1, -1, 64)]
    [InlineData(1, 0, 0)]
    [InlineData(1, 0, 70000)]
    public void TagSetOptions_OutOfRange_ThrowsNamingTheValue(int queues, int pollQueues, int depth)
    {
        var options = new TagSetOptions { HardwareQueueCount = queues, PollQueueCount = pollQueues, QueueDepth = depth };
        ArgumentOutOfRangeException error = Assert.Throws<ArgumentOutOfRangeException>(options.Validate);
        Assert.NotNull(error.ParamName);
        Assert.Throws<ArgumentOutOfRangeException>(() => new TagSet<TestDriver, TestRequest, TestHw, TestDisk>(default, options));
    }

    [Fact]
    public async Task DiskOptions_Invalid_Throw()
    {
        await using var tagSet = new TagSet<TestDriver, TestRequest, TestHw, TestDisk>(default, new TagSetOptions());
        Assert.Throws<ArgumentOutOfRangeException>(() => tagSet.AddDisk(new TestDisk(), new DiskOptions { Name = "a", Capacity = 1000 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => tagSet.AddDisk(new TestDisk(), new DiskOptions { Name = "a", Capacity = 4096, Limits = new QueueLimits { LogicalBlockSize = 1000 } }));
        Assert.Throws<ArgumentOutOfRangeException>(() => tagSet.AddDisk(new TestDisk(), new DiskOptions { Name = "a", Capacity = 4096, Limits = new QueueLimits { MaxSegments = 1000 } }));
        Assert.Throws<ArgumentException>(() => tagSet.AddDisk(new TestDisk(), new DiskOptions { Name = " ", Capacity = 4096 }));
        tagSet.AddDisk(new TestDisk(), new DiskOptions { Name = "a", Capacity = 4096 });
        Assert.Throws<ArgumentException>(() => tagSet.AddDisk(new TestDisk(), new DiskOptions { Name = "a", Capacity = 4096 }));
    }

    [Theory]
    [InlineData(-512, 512)]
    [InlineData(100, 512)]
    [InlineData(0, 100)]
    [InlineData(1 << 20, 512)]
    [InlineData((1 << 20) - 512, 1024)]
    [InlineData(long.MaxValue - 511, 512)]
    public async Task BlockDevice_BadRange_ThrowsBeforeSubmitting(long offset, int length)
    {
        await using TestRig rig = TestRig.Create();
        byte[] buffer = new byte[Math.Max(0, length)];
        Assert.ThrowsAny<ArgumentException>(() => Discard(rig.Device.ReadAsync(offset, buffer)));
        Assert.ThrowsAny<ArgumentException>(() => Discard(rig.Device.WriteAsync(offset, buffer)));
        Assert.ThrowsAny<ArgumentException>(() => Discard(rig.Device.DiscardAsync(offset, length)));
        Assert.ThrowsAny<ArgumentException>(() => Discard(rig.Device.WriteZeroesAsync(offset, length)));
        Assert.ThrowsAny<ArgumentException>(() => Discard(rig.Device.DiscardAsync(0, -512)));
        Assert.Equal(0, rig.Data.QueueRqCalls);
        rig.AssertIdle();
    }

    private static void Discard(ValueTask task) => Assert.Fail($"expected a synchronous exception, got a task ({task.IsCompleted})");

    [Fact]
    public async Task BlockDevice_ZeroLength_CompletesWithoutARequest()
    {
        await using TestRig rig = TestRig.Create();
        await rig.Device.ReadAsync(4096, Memory<byte>.Empty);
        await rig.Device.WriteAsync(4096, ReadOnlyMemory<byte>.Empty);
        Assert.Equal(0, rig.Data.QueueRqCalls);
    }

    [Fact]
    public async Task ReadOnlyDisk_RefusesWrites()
    {
        await using NullBlock nullb = NullBlock.Create(new NullBlockOptions { IrqMode = IrqMode.None, Size = 1 << 20, Discard = true });
        BlockDevice device = nullb.Disk.OpenDevice();
        nullb.Disk.SetReadOnly(true);

        BlockIOException write = await Assert.ThrowsAsync<BlockIOException>(async () => await device.WriteAsync(0, new byte[512]));
        Assert.Equal(BlockStatus.ReadOnly, write.Status);
        BlockIOException discard = await Assert.ThrowsAsync<BlockIOException>(async () => await device.DiscardAsync(0, 512));
        Assert.Equal(BlockStatus.ReadOnly, discard.Status);
        await device.ReadAsync(0, new byte[512]);
        nullb.Disk.SetReadOnly(false);
        await device.WriteAsync(0, new byte[512]);
    }

    [Fact]
    public async Task DiscardWithoutSupport_FailsNotSupported()
    {
        await using NullBlock nullb = NullBlock.Create(new NullBlockOptions { IrqMode = IrqMode.None, Size = 1 << 20 });
        BlockIOException error = await Assert.ThrowsAsync<BlockIOException>(async () => await nullb.Disk.OpenDevice().DiscardAsync(0, 4096));
        Assert.Equal(BlockStatus.NotSupported, error.Status);
    }

    [Theory]
    [InlineData("irqmode=7")]
    [InlineData("bs=1000")]
    [InlineData("hw_queue_depth=0")]
    [InlineData("submit_queues=0")]
    [InlineData("size=1000")]
    public void NullBlock_BadParameter_Throws(string spec) =>
        Assert.ThrowsAny<Exception>(() => NullBlock.Create(spec).Dispose());

    [Fact]
    public void NullBlockOptions_UnknownName_FormatExceptionListsKnownNames()
    {
        FormatException error = Assert.Throws<FormatException>(() => NullBlockOptions.Parse("irqmod=1"));
        Assert.Contains("irqmod", error.Message, StringComparison.Ordinal);
        Assert.Contains("completion_nsec", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void NullBlockOptions_Parse_UsesNullBlkNames()
    {
        NullBlockOptions options = NullBlockOptions.Parse("irqmode=2,completion_nsec=100000,submit_queues=2,hw_queue_depth=32,bs=4096,size=64M,memory_backed=1,blocking=1");
        Assert.Equal(IrqMode.Timer, options.IrqMode);
        Assert.Equal(100_000, options.CompletionNsec);
        Assert.Equal(2, options.SubmitQueues);
        Assert.Equal(32, options.HwQueueDepth);
        Assert.Equal(4096, options.BlockSize);
        Assert.Equal(64L << 20, options.Size);
        Assert.True(options.MemoryBacked);
        Assert.True(options.Blocking);
        Assert.Equal(1L << 30, NullBlockOptions.Parse("gb=1").Size);
    }
}
