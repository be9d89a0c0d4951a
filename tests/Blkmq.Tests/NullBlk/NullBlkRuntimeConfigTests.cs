using Blkmq.Drivers.Null;
using Blkmq.Tests.Infrastructure;

namespace Blkmq.Tests.NullBlk;

/// <summary>The configfs analogue: devices added, powered off and on, and removed while the instance runs.</summary>
public sealed class NullBlkRuntimeConfigTests
{
    [Fact]
    public async Task AddDevice_AddsAUsableDiskWithTheNextIndex()
    {
        await using NullBlock nullb = NullBlock.Create("irqmode=0,size=1M");
        NullDevice added = nullb.AddDevice(nullb.Options with { Size = 2 << 20, MemoryBacked = true });
        Assert.Equal(1, added.Index);
        Assert.Equal("nullb1", added.Name);
        Assert.True(added.Power);
        Assert.Equal(["nullb0", "nullb1"], nullb.Disks.Select(static d => d.Name));
        Assert.Same(added, nullb.GetDevice(1));
        Assert.Equal(2L << 20, added.Disk!.Capacity);

        BlockDevice device = added.Disk.OpenDevice();
        await device.WriteAsync(0, Enumerable.Repeat((byte)3, 512).ToArray());
        byte[] back = new byte[512];
        await device.ReadAsync(0, back);
        Assert.Equal(3, back[0]);
    }

    [Theory]
    [MemberData(nameof(CompletionModes.All), MemberType = typeof(CompletionModes))]
    public async Task RemoveDevice_TakesItsDiskAway_AndFreesTheIndex(string mode)
    {
        await using NullBlock nullb = NullBlock.Create("nr_devices=2,size=1M," + mode);
        Disk first = nullb.Disks[0];
        ModeDevice stale = CompletionModes.Open(first, mode);

        await nullb.RemoveDeviceAsync(0);
        Assert.True(first.IsRemoved);
        Assert.Equal(["nullb1"], nullb.Disks.Select(static d => d.Name));
        Assert.Single(nullb.Devices);
        BlockIOException error = await Assert.ThrowsAsync<BlockIOException>(async () => await stale.ReadAsync(0, new byte[512]));
        Assert.Equal(BlockStatus.Offline, error.Status);
        Assert.Throws<KeyNotFoundException>(() => nullb.GetDevice(0));

        NullDevice again = nullb.AddDevice();
        Assert.Equal(0, again.Index);
        Assert.Equal(["nullb0", "nullb1"], nullb.Disks.Select(static d => d.Name));
    }

    [Fact]
    public async Task PowerOffAndOn_KeepsTheBackingMemory()
    {
        await using NullBlock nullb = NullBlock.Create("memory_backed=1,irqmode=0,size=1M,badblocks=100-100");
        NullDevice device = nullb.Devices[0];
        await device.Disk!.OpenDevice().WriteAsync(0, Enumerable.Repeat((byte)9, 4096).ToArray());

        Disk before = device.Disk;
        await device.PowerOffAsync();
        Assert.False(device.Power);
        Assert.Null(device.Disk);
        Assert.True(before.IsRemoved);
        Assert.Empty(nullb.Disks);
        Assert.Throws<InvalidOperationException>(() => nullb.Disk);

        device.PowerOn();
        Assert.True(device.Power);
        Assert.NotSame(before, device.Disk);
        Assert.Same(device.Disk, nullb.Disk);
        byte[] back = new byte[4096];
        await device.Disk!.OpenDevice().ReadAsync(0, back);
        Assert.All(back, static b => Assert.Equal(9, b));
        Assert.True(device.BadBlocks.Contains(100));
    }

    [Fact]
    public async Task PowerOff_LosesTheWriteCache()
    {
        await using NullBlock nullb = NullBlock.Create("memory_backed=1,cache_size=1,irqmode=0,size=1M");
        NullDevice device = nullb.Devices[0];
        BlockDevice io = device.Disk!.OpenDevice();
        await io.WriteAsync(0, Enumerable.Repeat((byte)1, 4096).ToArray());
        await io.FlushAsync();
        await io.WriteAsync(4096, Enumerable.Repeat((byte)2, 4096).ToArray());

        await device.PowerOffAsync();
        device.PowerOn();
        byte[] back = new byte[8192];
        await device.Disk!.OpenDevice().ReadAsync(0, back);
        Assert.Equal(1, back[0]);
        Assert.Equal(0, back[4096]);
    }

    [Fact]
    public async Task SharedTags_AnAddedDeviceJoinsTheSharedTagSet()
    {
        await using NullBlock nullb = NullBlock.Create("shared_tags=1,irqmode=0,size=1M");
        nullb.AddDevice();
        TagSetCore tagSet = Assert.Single(nullb.TagSets);
        Assert.Equal(2, tagSet.Disks.Count);
        await nullb.RemoveDeviceAsync(0);
        Assert.Single(tagSet.Disks);
        await nullb.Disk.OpenDevice().ReadAsync(0, new byte[512]);
    }

    [Fact]
    public async Task SharedTags_AnAddedDeviceUsesTheSharedTagSetsShape()
    {
        await using NullBlock nullb = NullBlock.Create("shared_tags=1,hw_queue_depth=8,irqmode=0,size=1M");

        // The device asks for a depth of 2, but its queues take the shared tag set's 8 tags.
        NullDevice added = nullb.AddDevice(nullb.Options with { HwQueueDepth = 2, IrqMode = IrqMode.Timer, CompletionNsec = 100_000 });
        BlockDevice device = added.Disk!.OpenDevice();
        Task[] reads = Enumerable.Range(0, 8).Select(i => device.ReadAsync(i * 512L, new byte[512]).AsTask()).ToArray();
        await Task.WhenAll(reads).Guard();
    }

    [Fact]
    public async Task RemovedDevice_CannotBePoweredOn()
    {
        await using NullBlock nullb = NullBlock.Create("nr_devices=2,size=1M");
        NullDevice device = nullb.Devices[1];
        await nullb.RemoveDeviceAsync(1);
        Assert.Throws<ObjectDisposedException>(device.PowerOn);
    }

    [Fact]
    public async Task DisposedInstance_RefusesNewDevices()
    {
        NullBlock nullb = NullBlock.Create("size=1M");
        await nullb.DisposeAsync();
        Assert.Empty(nullb.Disks);
        Assert.Throws<ObjectDisposedException>(() => nullb.AddDevice());
    }
}
