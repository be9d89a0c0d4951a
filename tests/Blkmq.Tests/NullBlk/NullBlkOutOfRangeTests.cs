using Blkmq.Drivers.Null;
using Blkmq.Tests.Infrastructure;

namespace Blkmq.Tests.NullBlk;

/// <summary>
/// IO beyond the end of a null disk: refused before anything is submitted (an exception, or
/// <see cref="BlockStatus.Invalid"/> from the status API), in each of the <see cref="CompletionModes"/>; the last
/// block itself works.
/// </summary>
public sealed class NullBlkOutOfRangeTests
{
    private const long Size = 1 << 20;

    [Theory]
    [MemberData(nameof(CompletionModes.All), MemberType = typeof(CompletionModes))]
    public async Task IoPastTheEnd_IsRefusedBeforeSubmitting_TheLastBlockWorks(string mode)
    {
        await using NullBlock nullb = NullBlock.Create("memory_backed=1,discard=1,size=1M," + mode);
        ModeDevice device = CompletionModes.Open(nullb.Disk, mode);

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await device.ReadAsync(Size, new byte[512]));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await device.ReadAsync(Size - 512, new byte[1024]));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await device.WriteAsync(Size, new byte[512]));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await device.WriteAsync(Size - 512, new byte[1024], RequestFlags.Fua));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await device.DiscardAsync(Size - 512, 1024));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await device.WriteZeroesAsync(Size, 512));
        Assert.Equal(BlockStatus.Invalid, await device.ReadStatusAsync(Size, new byte[512]));
        Assert.Equal(BlockStatus.Invalid, await device.WriteStatusAsync(Size - 512, new byte[1024]));
        Assert.Equal(0, nullb.Disk.GetStatistics().ReadIos + nullb.Disk.GetStatistics().WriteIos);

        await device.WriteAsync(Size - 512, Enumerable.Repeat((byte)6, 512).ToArray());
        byte[] back = new byte[512];
        await device.ReadAsync(Size - 512, back);
        Assert.All(back, static b => Assert.Equal(6, b));
    }

    [Theory]
    [MemberData(nameof(CompletionModes.All), MemberType = typeof(CompletionModes))]
    public async Task ZoneIoPastTheEnd_IsRefusedBeforeSubmitting(string mode)
    {
        await using NullBlock nullb = NullBlock.Create("zoned=1,zone_size=1,size=2M,memory_backed=1," + mode);
        ModeDevice device = CompletionModes.Open(nullb.Disk, mode);

        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await device.ZoneAppendAsync(2 * Size, new byte[4096]));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await device.ZoneManagementAsync(RequestOp.ZoneOpen, 2 * Size));
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await device.WriteAsync((2 * Size) - 512, new byte[1024]));
        Assert.Equal(Size, await device.ZoneAppendAsync(Size, new byte[4096]));
    }
}
