using Blkmq.Drivers.Null;
using Blkmq.Tests.Infrastructure;

namespace Blkmq.Tests.NullBlk;

/// <summary>
/// The core's support for zone append: the driver reports the written sector with
/// <see cref="Request{TData}.SetResultSector(long)"/>; <see cref="BlockDevice.ZoneAppendAsync"/> returns it.
/// </summary>
public sealed class ZoneAppendResultSectorTests
{
    [Fact]
    public async Task SetResultSector_OnARequestThatIsNotAZoneAppend_Throws()
    {
        await using TestRig rig = TestRig.Create();
        ValueTask read = rig.Device.ReadAsync(0, new byte[512]);
        Request<TestRequest> request = await rig.Data.NextAsync();
        Assert.Throws<InvalidOperationException>(() => request.SetResultSector(0));
        request.End(BlockStatus.Ok);
        await read;
    }

    [Fact]
    public async Task SetResultSector_ThroughAnEndedHandle_Throws()
    {
        await using TestRig rig = TestRig.Create();
        ValueTask read = rig.Device.ReadAsync(0, new byte[512]);
        Request<TestRequest> request = await rig.Data.NextAsync();
        request.End(BlockStatus.Ok);
        await read;
        Assert.Throws<InvalidOperationException>(() => request.SetResultSector(0));
    }

    [Theory]
    [MemberData(nameof(CompletionModes.All), MemberType = typeof(CompletionModes))]
    public async Task ZoneAppend_FailedAppend_ThrowsWithTheDriversStatus(string mode)
    {
        await using NullBlock nullb = NullBlock.Create("zoned=1,zone_size=1,size=2M,zone_capacity=1," + mode);
        ModeDevice device = CompletionModes.Open(nullb.Disk, mode);
        await device.ZoneManagementAsync(RequestOp.ZoneFinish, 0);
        BlockIOException error = await Assert.ThrowsAsync<BlockIOException>(async () => await device.ZoneAppendAsync(0, new byte[512]));
        Assert.Equal(BlockStatus.ZoneError, error.Status);

        // The pooled completion is reused cleanly by the next append.
        Assert.Equal(1 << 20, await device.ZoneAppendAsync(1 << 20, new byte[512]));
    }
}
