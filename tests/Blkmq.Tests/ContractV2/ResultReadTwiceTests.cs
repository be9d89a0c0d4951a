using Blkmq.Tests.Infrastructure;

namespace Blkmq.Tests.ContractV2;

/// <summary>
/// Defect 6: awaiting a <see cref="BlockDevice"/> value task twice freed its tag twice. The second await must throw
/// <see cref="InvalidOperationException"/> and leave the tag set as it was.
/// </summary>
public sealed class ResultReadTwiceTests
{
    [Fact]
    public async Task SecondAwait_OfACompletedRead_ThrowsAndFreesNothing()
    {
        await using TestRig rig = TestRig.Create(depth: 1);
        ValueTask read = rig.Device.ReadAsync(0, new byte[512]);
        (await rig.Data.NextAsync()).End(BlockStatus.Ok);
        await read;

        await Assert.ThrowsAsync<InvalidOperationException>(async () => await read);
        rig.AssertIdle();

        // Depth 1: had the tag been freed twice, two IOs would now hold it at once.
        ValueTask first = rig.Device.ReadAsync(0, new byte[512]);
        Request<TestRequest> held = await rig.Data.NextAsync();
        ValueTask second = rig.Device.ReadAsync(512, new byte[512]);
        Assert.False(rig.Data.TryNext(out _));
        Assert.Equal(1, rig.TagSet.TagsInUse);

        held.End(BlockStatus.Ok);
        await first;
        (await rig.Data.NextAsync()).End(BlockStatus.Ok);
        await second.AsTask().Guard();
        rig.AssertIdle();
    }

    [Fact]
    public async Task SecondAwait_OfAFailedWrite_ThrowsInvalidOperationNotTheIoError()
    {
        await using TestRig rig = TestRig.Create(depth: 1);
        ValueTask<BlockStatus> write = rig.Device.WriteStatusAsync(0, new byte[512]);
        (await rig.Data.NextAsync()).End(BlockStatus.IoError);
        Assert.Equal(BlockStatus.IoError, await write);

        await Assert.ThrowsAsync<InvalidOperationException>(async () => await write);
        rig.AssertIdle();
    }
}
