using Blkmq.Drivers.Null;
using Blkmq.Tests.Infrastructure;

namespace Blkmq.Tests.NullBlk;

/// <summary>
/// zoned and its zone_* parameters: write pointers, the zone state machine, zone append and management; the tests
/// of zone errors run in each of the <see cref="CompletionModes"/>.
/// </summary>
public sealed class NullBlkZonedTests
{
    private const long Zone = 1 << 20;

    [Fact]
    public async Task Zoned_ReportsEmptySequentialZones()
    {
        await using NullBlock nullb = Create();
        BlockDevice device = nullb.Disk.OpenDevice();
        Assert.True(device.IsZoned);
        Assert.Equal(Zone, device.ZoneSize);
        Assert.Equal(8, device.ZoneCount);
        Assert.Equal(2048, nullb.Disk.Limits.ZoneSectors);
        Assert.False(nullb.Disk.SupportsDiscard);

        BlockZone[] zones = device.ReportZones();
        Assert.Equal(8, zones.Length);
        for (int i = 0; i < zones.Length; i++)
        {
            Assert.Equal(new BlockZone(i * Zone, Zone, Zone, i * Zone, ZoneType.SequentialWriteRequired, ZoneCondition.Empty), zones[i]);
        }

        Assert.Equal(3, device.ReportZones(5 * Zone, 10).Length);
        Assert.Equal(2, device.ReportZones(Zone + 4096, new BlockZone[2]));
    }

    [Theory]
    [MemberData(nameof(CompletionModes.All), MemberType = typeof(CompletionModes))]
    public async Task WriteAtTheWritePointer_AdvancesIt_WriteElsewhereFails(string mode)
    {
        await using NullBlock nullb = Create(mode: mode);
        ModeDevice device = CompletionModes.Open(nullb.Disk, mode);
        await device.WriteAsync(Zone, new byte[4096]);
        BlockZone zone = device.ReportZones(Zone, 1)[0];
        Assert.Equal(Zone + 4096, zone.WritePointer);
        Assert.Equal(ZoneCondition.ImplicitOpen, zone.Condition);

        BlockIOException past = await Assert.ThrowsAsync<BlockIOException>(async () => await device.WriteAsync(Zone + 8192, new byte[4096]));
        Assert.Equal(BlockStatus.ZoneError, past.Status);
        BlockIOException behind = await Assert.ThrowsAsync<BlockIOException>(async () => await device.WriteAsync(Zone, new byte[4096]));
        Assert.Equal(BlockStatus.ZoneError, behind.Status);

        await device.WriteAsync(Zone + 4096, new byte[4096]);
        Assert.Equal(Zone + 8192, device.ReportZones(Zone, 1)[0].WritePointer);
    }

    [Theory]
    [MemberData(nameof(CompletionModes.All), MemberType = typeof(CompletionModes))]
    public async Task ZoneCapacity_WritingItMakesTheZoneFull(string mode)
    {
        await using NullBlock nullb = Create("zone_capacity=512K", mode);
        ModeDevice device = CompletionModes.Open(nullb.Disk, mode);
        Assert.Equal(512 << 10, device.ReportZones(0, 1)[0].Capacity);

        await Assert.ThrowsAsync<BlockIOException>(async () => await device.WriteAsync(0, new byte[(512 << 10) + 4096]));
        await device.WriteAsync(0, new byte[512 << 10]);
        BlockZone zone = device.ReportZones(0, 1)[0];
        Assert.Equal(ZoneCondition.Full, zone.Condition);
        Assert.Equal(512 << 10, zone.WritePointer);
        await Assert.ThrowsAsync<BlockIOException>(async () => await device.WriteAsync(512 << 10, new byte[4096]));
    }

    [Fact]
    public async Task ZoneAppend_ReturnsIncreasingOffsets_AndTheDataIsThere()
    {
        await using NullBlock nullb = Create();
        BlockDevice device = nullb.Disk.OpenDevice();
        long[] written = new long[3];
        for (int i = 0; i < written.Length; i++)
        {
            written[i] = await device.ZoneAppendAsync(2 * Zone, Enumerable.Repeat((byte)(i + 1), 4096).ToArray());
        }

        Assert.Equal([2 * Zone, (2 * Zone) + 4096, (2 * Zone) + 8192], written);
        byte[] back = new byte[3 * 4096];
        await device.ReadAsync(2 * Zone, back);
        for (int i = 0; i < 3; i++)
        {
            Assert.All(back.AsSpan(i * 4096, 4096).ToArray(), b => Assert.Equal(i + 1, b));
        }
    }

    [Theory]
    [InlineData("irqmode=0")]
    [InlineData("irqmode=1")]
    [InlineData("irqmode=2,completion_nsec=2000")]
    public async Task ConcurrentZoneAppends_EachGetsItsOwnPlace(string mode)
    {
        await using NullBlock nullb = Create("submit_queues=2", mode);
        BlockDevice device = nullb.Disk.OpenDevice();
        Task<long>[] appends = Enumerable.Range(0, 32)
            .Select(i => Task.Run(async () => await device.ZoneAppendAsync(3 * Zone, Enumerable.Repeat((byte)i, 4096).ToArray()), TestContext.Current.CancellationToken))
            .ToArray();
        long[] offsets = await Task.WhenAll(appends).Guard();

        Assert.Equal(Enumerable.Range(0, 32).Select(static i => (3 * Zone) + (i * 4096L)), offsets.Order());
        for (int i = 0; i < offsets.Length; i++)
        {
            byte[] back = new byte[4096];
            await device.ReadAsync(offsets[i], back);
            Assert.All(back, b => Assert.Equal((byte)i, b));
        }
    }

    [Theory]
    [MemberData(nameof(CompletionModes.All), MemberType = typeof(CompletionModes))]
    public async Task ZoneAppend_BadArguments(string mode)
    {
        await using NullBlock nullb = Create("zone_append_max_sectors=8", mode);
        ModeDevice device = CompletionModes.Open(nullb.Disk, mode);
        Assert.Equal(8, nullb.Disk.Limits.MaxZoneAppendSectors);
        await Assert.ThrowsAsync<ArgumentException>(async () => await device.ZoneAppendAsync(4096, new byte[4096]));
        await Assert.ThrowsAsync<ArgumentException>(async () => await device.ZoneAppendAsync(Zone, new byte[8192]));
        await Assert.ThrowsAsync<ArgumentException>(async () => await device.ZoneAppendAsync(Zone, ReadOnlyMemory<byte>.Empty));
        Assert.Equal(Zone, await device.ZoneAppendAsync(Zone, new byte[4096]));
    }

    [Theory]
    [MemberData(nameof(CompletionModes.All), MemberType = typeof(CompletionModes))]
    public async Task ConventionalZones_TakeRandomWritesButNoAppendOrManagement(string mode)
    {
        await using NullBlock nullb = Create("zone_nr_conv=2", mode);
        ModeDevice device = CompletionModes.Open(nullb.Disk, mode);
        BlockZone[] zones = device.ReportZones();
        Assert.Equal(new BlockZone(0, Zone, Zone, Zone, ZoneType.Conventional, ZoneCondition.NotWritePointer), zones[0]);
        Assert.Equal(ZoneType.Conventional, zones[1].Type);
        Assert.Equal(ZoneType.SequentialWriteRequired, zones[2].Type);

        await device.WriteAsync(8192, new byte[4096]);
        await device.WriteAsync(0, new byte[4096]);
        await device.WriteAsync(Zone - 4096, new byte[8192]);
        BlockIOException intoSequential = await Assert.ThrowsAsync<BlockIOException>(async () => await device.WriteAsync((2 * Zone) - 4096, new byte[8192]));
        Assert.Equal(BlockStatus.ZoneError, intoSequential.Status);

        BlockIOException append = await Assert.ThrowsAsync<BlockIOException>(async () => await device.ZoneAppendAsync(0, new byte[4096]));
        Assert.Equal(BlockStatus.ZoneError, append.Status);
        await Assert.ThrowsAsync<BlockIOException>(async () => await device.ZoneManagementAsync(RequestOp.ZoneReset, 0));
        await Assert.ThrowsAsync<BlockIOException>(async () => await device.ZoneManagementAsync(RequestOp.ZoneOpen, Zone));
    }

    [Theory]
    [MemberData(nameof(CompletionModes.All), MemberType = typeof(CompletionModes))]
    public async Task ZoneManagement_FollowsTheStateMachine(string mode)
    {
        await using NullBlock nullb = Create(mode: mode);
        ModeDevice device = CompletionModes.Open(nullb.Disk, mode);
        long z = 4 * Zone;

        await device.ZoneManagementAsync(RequestOp.ZoneOpen, z);
        Assert.Equal(ZoneCondition.ExplicitOpen, Condition(device, z));
        await device.WriteAsync(z, new byte[4096]);
        Assert.Equal(ZoneCondition.ExplicitOpen, Condition(device, z));

        await device.ZoneManagementAsync(RequestOp.ZoneClose, z);
        Assert.Equal(ZoneCondition.Closed, Condition(device, z));
        await device.ZoneManagementAsync(RequestOp.ZoneClose, z);
        await device.WriteAsync(z + 4096, new byte[4096]);
        Assert.Equal(ZoneCondition.ImplicitOpen, Condition(device, z));

        await device.ZoneManagementAsync(RequestOp.ZoneFinish, z);
        BlockZone full = device.ReportZones(z, 1)[0];
        Assert.Equal(ZoneCondition.Full, full.Condition);
        Assert.Equal(z + Zone, full.WritePointer);
        await device.ZoneManagementAsync(RequestOp.ZoneFinish, z);
        BlockIOException open = await Assert.ThrowsAsync<BlockIOException>(async () => await device.ZoneManagementAsync(RequestOp.ZoneOpen, z));
        Assert.Equal(BlockStatus.ZoneError, open.Status);

        await device.ZoneManagementAsync(RequestOp.ZoneReset, z);
        Assert.Equal(new BlockZone(z, Zone, Zone, z, ZoneType.SequentialWriteRequired, ZoneCondition.Empty), device.ReportZones(z, 1)[0]);
        BlockIOException closeEmpty = await Assert.ThrowsAsync<BlockIOException>(async () => await device.ZoneManagementAsync(RequestOp.ZoneClose, z));
        Assert.Equal(BlockStatus.ZoneError, closeEmpty.Status);

        await device.WriteAsync(0, new byte[4096]);
        await device.WriteAsync(Zone, new byte[4096]);
        await device.ZoneManagementAsync(RequestOp.ZoneResetAll);
        Assert.All(device.ReportZones(), static zone => Assert.Equal(ZoneCondition.Empty, zone.Condition));
        await Assert.ThrowsAsync<ArgumentException>(async () => await device.ZoneManagementAsync(RequestOp.ZoneReset, 4096));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await device.ZoneManagementAsync(RequestOp.Write, 0));
    }

    [Fact]
    public async Task Reset_DropsTheData_ReadsPastTheWritePointerSeeThePattern()
    {
        await using NullBlock nullb = Create();
        BlockDevice device = nullb.Disk.OpenDevice();
        await device.WriteAsync(Zone, Enumerable.Repeat((byte)7, 4096).ToArray());
        byte[] back = new byte[8192];
        await device.ReadAsync(Zone, back);
        Assert.All(back.AsSpan(0, 4096).ToArray(), static b => Assert.Equal(7, b));
        Assert.All(back.AsSpan(4096).ToArray(), static b => Assert.Equal(0xFF, b));

        await device.ZoneManagementAsync(RequestOp.ZoneReset, Zone);
        Assert.Equal(0, nullb.Devices[0].AllocatedBytes);
        await device.ReadAsync(Zone, back);
        Assert.All(back, static b => Assert.Equal(0xFF, b));
    }

    [Theory]
    [MemberData(nameof(CompletionModes.All), MemberType = typeof(CompletionModes))]
    public async Task MaxOpen_AnImplicitlyOpenZoneIsClosedToMakeRoom_AnExplicitOneIsNot(string mode)
    {
        await using NullBlock nullb = Create("zone_max_open=2", mode);
        ModeDevice device = CompletionModes.Open(nullb.Disk, mode);
        Assert.Equal(2, nullb.Disk.Limits.MaxOpenZones);
        await device.WriteAsync(0, new byte[4096]);
        await device.WriteAsync(Zone, new byte[4096]);

        await device.ZoneManagementAsync(RequestOp.ZoneOpen, 2 * Zone);
        Assert.Equal(ZoneCondition.Closed, Condition(device, 0));
        Assert.Equal(ZoneCondition.ImplicitOpen, Condition(device, Zone));
        await device.ZoneManagementAsync(RequestOp.ZoneOpen, 3 * Zone);
        Assert.Equal(ZoneCondition.Closed, Condition(device, Zone));

        // Both open zones are explicit: nothing can be closed implicitly for a third.
        BlockIOException error = await Assert.ThrowsAsync<BlockIOException>(async () => await device.WriteAsync(4 * Zone, new byte[4096]));
        Assert.Equal(BlockStatus.ZoneError, error.Status);
        await device.ZoneManagementAsync(RequestOp.ZoneClose, 2 * Zone);
        await device.WriteAsync(4 * Zone, new byte[4096]);
    }

    [Theory]
    [MemberData(nameof(CompletionModes.All), MemberType = typeof(CompletionModes))]
    public async Task MaxActive_ClosedZonesStillCount(string mode)
    {
        await using NullBlock nullb = Create("zone_max_active=2", mode);
        ModeDevice device = CompletionModes.Open(nullb.Disk, mode);
        Assert.Equal(2, nullb.Disk.Limits.MaxActiveZones);
        await device.WriteAsync(0, new byte[4096]);
        await device.WriteAsync(Zone, new byte[4096]);
        await device.ZoneManagementAsync(RequestOp.ZoneClose, 0);
        await device.ZoneManagementAsync(RequestOp.ZoneClose, Zone);

        BlockIOException error = await Assert.ThrowsAsync<BlockIOException>(async () => await device.WriteAsync(2 * Zone, new byte[4096]));
        Assert.Equal(BlockStatus.ZoneError, error.Status);

        // A closed zone may open again; a finished one stops counting.
        await device.WriteAsync(4096, new byte[4096]);
        await device.ZoneManagementAsync(RequestOp.ZoneFinish, Zone);
        await device.WriteAsync(2 * Zone, new byte[4096]);
    }

    [Theory]
    [MemberData(nameof(CompletionModes.All), MemberType = typeof(CompletionModes))]
    public async Task ReadOnlyAndOfflineZones(string mode)
    {
        await using NullBlock nullb = Create("zone_nr_conv=1", mode);
        ModeDevice device = CompletionModes.Open(nullb.Disk, mode);
        NullDevice zoned = nullb.Devices[0];
        await device.WriteAsync(Zone, new byte[4096]);

        zoned.SetZoneReadOnly(Zone);
        Assert.Equal(new BlockZone(Zone, Zone, Zone, -1, ZoneType.SequentialWriteRequired, ZoneCondition.ReadOnly), device.ReportZones(Zone, 1)[0]);
        await device.ReadAsync(Zone, new byte[4096]);
        BlockIOException write = await Assert.ThrowsAsync<BlockIOException>(async () => await device.WriteAsync(Zone + 4096, new byte[4096]));
        Assert.Equal(BlockStatus.ReadOnly, write.Status);
        await Assert.ThrowsAsync<BlockIOException>(async () => await device.ZoneManagementAsync(RequestOp.ZoneReset, Zone));
        zoned.SetZoneReadOnly(Zone);
        Assert.Equal(ZoneCondition.Empty, Condition(device, Zone));

        zoned.SetZoneOffline(2 * Zone);
        BlockIOException read = await Assert.ThrowsAsync<BlockIOException>(async () => await device.ReadAsync(2 * Zone, new byte[4096]));
        Assert.Equal(BlockStatus.IoError, read.Status);
        zoned.SetZoneOffline(2 * Zone);
        await device.ReadAsync(2 * Zone, new byte[4096]);

        Assert.Throws<ArgumentException>(() => zoned.SetZoneReadOnly(0));
    }

    [Fact]
    public async Task ZoneFull_SequentialZonesStartFull()
    {
        await using NullBlock nullb = Create("zone_full=1,zone_nr_conv=1");
        BlockZone[] zones = nullb.Disk.OpenDevice().ReportZones();
        Assert.Equal(ZoneCondition.NotWritePointer, zones[0].Condition);
        Assert.All(zones[1..], static zone => Assert.Equal(ZoneCondition.Full, zone.Condition));
    }

    [Theory]
    [MemberData(nameof(CompletionModes.All), MemberType = typeof(CompletionModes))]
    public async Task WriteZeroes_OnAZonedDisk_FollowsTheWritePointer(string mode)
    {
        await using NullBlock nullb = Create(mode: mode);
        ModeDevice device = CompletionModes.Open(nullb.Disk, mode);
        Assert.False(nullb.Disk.SupportsWriteZeroes);
        await device.WriteZeroesAsync(0, 8192);
        Assert.Equal(8192, device.ReportZones(0, 1)[0].WritePointer);
        await Assert.ThrowsAsync<BlockIOException>(async () => await device.WriteZeroesAsync(0, 4096));
    }

    [Theory]
    [MemberData(nameof(CompletionModes.All), MemberType = typeof(CompletionModes))]
    public async Task NotZoned_ZoneOperationsAreNotSupported(string mode)
    {
        await using NullBlock nullb = NullBlock.Create("size=1M," + mode);
        ModeDevice device = CompletionModes.Open(nullb.Disk, mode);
        Assert.False(device.IsZoned);
        Assert.Equal(0, device.ZoneCount);
        Assert.Throws<NotSupportedException>(() => device.ReportZones());
        BlockIOException append = await Assert.ThrowsAsync<BlockIOException>(async () => await device.ZoneAppendAsync(0, new byte[512]));
        Assert.Equal(BlockStatus.NotSupported, append.Status);
        BlockIOException reset = await Assert.ThrowsAsync<BlockIOException>(async () => await device.ZoneManagementAsync(RequestOp.ZoneResetAll));
        Assert.Equal(BlockStatus.NotSupported, reset.Status);
    }

    [Theory]
    [MemberData(nameof(CompletionModes.All), MemberType = typeof(CompletionModes))]
    public async Task NotMemoryBacked_ZoneRulesStillApply(string mode)
    {
        await using NullBlock nullb = NullBlock.Create("zoned=1,zone_size=1,size=4M," + mode);
        ModeDevice device = CompletionModes.Open(nullb.Disk, mode);
        Assert.Equal(0, await device.ZoneAppendAsync(0, new byte[4096]));
        await Assert.ThrowsAsync<BlockIOException>(async () => await device.WriteAsync(0, new byte[4096]));
        await device.WriteAsync(4096, new byte[4096]);
    }

    private static NullBlock Create(string extra = "", string mode = CompletionModes.None) =>
        NullBlock.Create(NullBlockOptions.Parse("zoned=1,zone_size=1,size=8M,memory_backed=1," + (extra.Length > 0 ? extra + "," : "") + mode));

    private static ZoneCondition Condition(ModeDevice device, long offset) => device.ReportZones(offset, 1)[0].Condition;
}
