using Blkmq.Drivers;

namespace Blkmq.Filters.Tests;

/// <summary>
/// Filters that pass IO through 1:1 sit on zoned disks (device-mapper's zoned targets): the zone report, zone appends
/// (with where they landed), zone management and the write-pointer rules all reach the disk below, shifted by
/// <c>offset</c> over whole zones. Filters that rewrite writes are refused (see <see cref="FilterStackTests"/>).
/// </summary>
public sealed class ZonedFilterTests
{
    // 8 zones of 1 MiB, the first conventional.
    private const string Zoned = "memory:zoned=1,zone_size=1,zone_nr_conv=1,size=8M,bs=4096";

    [Theory]
    [InlineData("|pass", 0)]
    [InlineData("|stats", 0)]
    [InlineData("|delay:write=1ms,read=1ms", 0)]
    [InlineData("|error:rate=0%|rate:rate=1G", 0)]
    [InlineData("|stats|delay:write=1ms|pass", 0)]
    [InlineData("|offset:offset=2M", 2)]
    [InlineData("|offset:offset=2M,range=4M|stats|offset:offset=1M", 3)]
    public async Task ZoneOperations_PassThrough_AtTheRightZones(string filters, int zonesBelow)
    {
        await using DriverInstance instance = Stacks.Create(Zoned + filters);
        Disk top = instance.Disk;
        Assert.True(top.IsZoned);
        BlockDevice device = top.OpenDevice();
        long zone = device.ZoneSize;
        Assert.Equal(1 << 20, zone);

        BlockZone[] zones = device.ReportZones();
        Assert.Equal(top.Capacity / zone, zones.Length);
        Assert.Equal(Enumerable.Range(0, zones.Length).Select(i => i * zone), zones.Select(z => z.Start));
        Assert.Equal(zonesBelow == 0 ? ZoneType.Conventional : ZoneType.SequentialWriteRequired, zones[0].Type);

        // The first sequential zone of this disk: appends land at its write pointer, in this disk's offsets.
        BlockZone target = zones.First(z => z.Type == ZoneType.SequentialWriteRequired);
        byte[] first = Stacks.Pattern(8192, 1);
        byte[] second = Stacks.Pattern(4096, 2);
        Assert.Equal(target.Start, await device.ZoneAppendAsync(target.Start, first));
        Assert.Equal(target.Start + 8192, await device.ZoneAppendAsync(target.Start, second));
        BlockZone after = device.ReportZones(target.Start, 1)[0];
        Assert.Equal(target.Start + 12288, after.WritePointer);
        Assert.Equal(ZoneCondition.ImplicitOpen, after.Condition);

        byte[] read = new byte[12288];
        await device.ReadAsync(target.Start, read);
        Assert.Equal(first.Concat(second), read);

        // The data is in the zone below that this one maps to.
        BlockDevice bottom = BottomOf(top).OpenDevice();
        byte[] below = new byte[12288];
        await bottom.ReadAsync(target.Start + (zonesBelow * zone), below);
        Assert.Equal(read, below);

        // A write that is not at the write pointer is the disk below's to refuse, and the refusal comes up.
        BlockIOException misplaced = await Assert.ThrowsAsync<BlockIOException>(async () => await device.WriteAsync(target.Start, first));
        Assert.Equal(BlockStatus.ZoneError, misplaced.Status);

        await device.ZoneManagementAsync(RequestOp.ZoneFinish, target.Start);
        Assert.Equal(ZoneCondition.Full, device.ReportZones(target.Start, 1)[0].Condition);
        await device.ZoneManagementAsync(RequestOp.ZoneReset, target.Start);
        after = device.ReportZones(target.Start, 1)[0];
        Assert.Equal(ZoneCondition.Empty, after.Condition);
        Assert.Equal(target.Start, after.WritePointer);
    }

    [Fact]
    public async Task ReadOnly_OverAZonedDisk_RefusesAppendsAndResets()
    {
        await using DriverInstance instance = Stacks.Create(Zoned + "|readonly");
        BlockDevice device = instance.Disk.OpenDevice();
        BlockIOException append = await Assert.ThrowsAsync<BlockIOException>(async () => await device.ZoneAppendAsync(1 << 20, new byte[4096]));
        Assert.Equal(BlockStatus.ReadOnly, append.Status);
        BlockIOException reset = await Assert.ThrowsAsync<BlockIOException>(async () => await device.ZoneManagementAsync(RequestOp.ZoneReset, 1 << 20));
        Assert.Equal(BlockStatus.ReadOnly, reset.Status);
        Assert.Equal(8, device.ReportZones().Length);
    }

    [Fact]
    public async Task Error_OverAZonedDisk_FailsAppends()
    {
        await using DriverInstance instance = Stacks.Create(Zoned + "|error:rate=100%,ops=write");
        BlockDevice device = instance.Disk.OpenDevice();
        BlockIOException append = await Assert.ThrowsAsync<BlockIOException>(async () => await device.ZoneAppendAsync(1 << 20, new byte[4096]));
        Assert.Equal(BlockStatus.IoError, append.Status);
        Assert.Equal(1 << 20, device.ReportZones(1 << 20, 1)[0].WritePointer);
    }

    [Fact]
    public async Task ResetAll_ThroughAnOffset_IsRefused_AndLeavesTheZonesBelowAlone()
    {
        await using DriverInstance instance = Stacks.Create(Zoned + "|offset:offset=2M,range=2M");
        BlockDevice bottom = BottomOf(instance.Disk).OpenDevice();
        await bottom.ZoneAppendAsync(1 << 20, new byte[4096]);
        BlockIOException error = await Assert.ThrowsAsync<BlockIOException>(async () => await instance.Disk.OpenDevice().ZoneManagementAsync(RequestOp.ZoneResetAll));
        Assert.Equal(BlockStatus.NotSupported, error.Status);
        Assert.Equal((1 << 20) + 4096, bottom.ReportZones(1 << 20, 1)[0].WritePointer);
    }

    [Fact]
    public async Task ResetAll_ThroughAWholeDiskFilter_ResetsEveryZone()
    {
        await using DriverInstance instance = Stacks.Create(Zoned + "|stats|delay:write=1ms");
        BlockDevice device = instance.Disk.OpenDevice();
        await device.ZoneAppendAsync(1 << 20, new byte[4096]);
        await device.ZoneAppendAsync(3 << 20, new byte[4096]);
        await device.ZoneManagementAsync(RequestOp.ZoneResetAll);
        Assert.All(device.ReportZones().Skip(1), zone => Assert.Equal(zone.Start, zone.WritePointer));
    }

    [Theory]
    [InlineData("|offset:offset=512K")]
    [InlineData("|offset:offset=1M,range=1536K")]
    public void Offset_NotOnZoneBoundaries_IsRefused(string filters)
    {
        ArgumentException error = Assert.ThrowsAny<ArgumentException>(() => Stacks.Create(Zoned + filters));
        Assert.Contains("must be whole zones of 1048576 bytes", error.Message, StringComparison.Ordinal);
    }

    private static Disk BottomOf(Disk disk)
    {
        while (disk is StackedDisk stacked)
        {
            disk = stacked.Lower;
        }

        return disk;
    }
}
