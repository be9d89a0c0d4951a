using Blkmq.Drivers.Null;
using Blkmq.Tests.Infrastructure;

namespace Blkmq.Tests.NullBlk;

/// <summary>
/// Read-only disks (refused by the block layer before the driver sees the IO) and read-only zones (refused by the
/// driver, so the status travels the end path), in each of the <see cref="CompletionModes"/>.
/// </summary>
public sealed class NullBlkReadOnlyTests
{
    private const long Zone = 1 << 20;

    [Theory]
    [MemberData(nameof(CompletionModes.All), MemberType = typeof(CompletionModes))]
    public async Task ReadOnlyDisk_RefusesEveryWrite_ReadsWork(string mode)
    {
        await using NullBlock nullb = NullBlock.Create("memory_backed=1,discard=1,cache_size=1,size=1M," + mode);
        ModeDevice device = CompletionModes.Open(nullb.Disk, mode);
        await device.WriteAsync(0, Fill(4096, 7));
        nullb.Disk.SetReadOnly(true);

        BlockIOException write = await Assert.ThrowsAsync<BlockIOException>(async () => await device.WriteAsync(0, Fill(4096, 8)));
        Assert.Equal(BlockStatus.ReadOnly, write.Status);
        BlockIOException fua = await Assert.ThrowsAsync<BlockIOException>(async () => await device.WriteAsync(0, Fill(4096, 8), RequestFlags.Fua));
        Assert.Equal(BlockStatus.ReadOnly, fua.Status);
        Assert.Equal(BlockStatus.ReadOnly, await device.WriteStatusAsync(0, Fill(4096, 8)));
        BlockIOException discard = await Assert.ThrowsAsync<BlockIOException>(async () => await device.DiscardAsync(0, 4096));
        Assert.Equal(BlockStatus.ReadOnly, discard.Status);
        BlockIOException zeroes = await Assert.ThrowsAsync<BlockIOException>(async () => await device.WriteZeroesAsync(0, 4096));
        Assert.Equal(BlockStatus.ReadOnly, zeroes.Status);

        byte[] back = new byte[4096];
        await device.ReadAsync(0, back);
        Assert.All(back, static b => Assert.Equal(7, b));
        Assert.Equal(BlockStatus.Ok, await device.ReadStatusAsync(0, back));

        nullb.Disk.SetReadOnly(false);
        await device.WriteAsync(0, Fill(4096, 8));
        await device.ReadAsync(0, back);
        Assert.All(back, static b => Assert.Equal(8, b));
    }

    [Theory]
    [MemberData(nameof(CompletionModes.All), MemberType = typeof(CompletionModes))]
    public async Task ReadOnlyZonedDisk_RefusesAppendsAndZoneManagement(string mode)
    {
        await using NullBlock nullb = NullBlock.Create("zoned=1,zone_size=1,size=4M,memory_backed=1," + mode);
        ModeDevice device = CompletionModes.Open(nullb.Disk, mode);
        await device.WriteAsync(0, new byte[4096]);
        nullb.Disk.SetReadOnly(true);

        BlockIOException append = await Assert.ThrowsAsync<BlockIOException>(async () => await device.ZoneAppendAsync(0, new byte[4096]));
        Assert.Equal(BlockStatus.ReadOnly, append.Status);
        BlockIOException reset = await Assert.ThrowsAsync<BlockIOException>(async () => await device.ZoneManagementAsync(RequestOp.ZoneReset, 0));
        Assert.Equal(BlockStatus.ReadOnly, reset.Status);
        BlockIOException write = await Assert.ThrowsAsync<BlockIOException>(async () => await device.WriteAsync(4096, new byte[4096]));
        Assert.Equal(BlockStatus.ReadOnly, write.Status);
        Assert.Equal(4096, device.ReportZones(0, 1)[0].WritePointer);

        nullb.Disk.SetReadOnly(false);
        Assert.Equal(4096, await device.ZoneAppendAsync(0, new byte[4096]));
    }

    [Theory]
    [MemberData(nameof(CompletionModes.All), MemberType = typeof(CompletionModes))]
    public async Task ReadOnlyZone_TheDriverRefusesWritesAppendsAndResets(string mode)
    {
        await using NullBlock nullb = NullBlock.Create("zoned=1,zone_size=1,size=4M,memory_backed=1," + mode);
        ModeDevice device = CompletionModes.Open(nullb.Disk, mode);
        await device.WriteAsync(Zone, Fill(4096, 3));
        nullb.Devices[0].SetZoneReadOnly(Zone);

        BlockIOException write = await Assert.ThrowsAsync<BlockIOException>(async () => await device.WriteAsync(Zone + 4096, new byte[4096]));
        Assert.Equal(BlockStatus.ReadOnly, write.Status);
        Assert.Equal(BlockStatus.ReadOnly, await device.WriteStatusAsync(Zone + 4096, new byte[4096]));
        BlockIOException append = await Assert.ThrowsAsync<BlockIOException>(async () => await device.ZoneAppendAsync(Zone, new byte[4096]));
        Assert.Equal(BlockStatus.ReadOnly, append.Status);
        BlockIOException reset = await Assert.ThrowsAsync<BlockIOException>(async () => await device.ZoneManagementAsync(RequestOp.ZoneReset, Zone));
        Assert.Equal(BlockStatus.ReadOnly, reset.Status);

        // The zone's data is still there, and the other zones take writes.
        byte[] back = new byte[4096];
        await device.ReadAsync(Zone, back);
        Assert.All(back, static b => Assert.Equal(3, b));
        await device.WriteAsync(2 * Zone, new byte[4096]);
    }

    private static byte[] Fill(int length, byte value) => Enumerable.Repeat(value, length).ToArray();
}
