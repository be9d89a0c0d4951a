using Blkmq.Tests.Infrastructure;

namespace Blkmq.Tests.Rules;

/// <summary>Rule 3: tag → request lookup returns a request only while the driver owns it.</summary>
public sealed class Rule3TagLookupTests
{
    [Fact]
    public async Task Rule3_LookupOfFreeTag_ReturnsFalse()
    {
        await using TestRig rig = TestRig.Create(depth: 4);
        for (int tag = 0; tag < 4; tag++)
        {
            Assert.False(rig.TagSet.TryGetRequest(0, tag, out _));
        }
    }

    [Fact]
    public async Task Rule3_LookupOfOwnedTag_ReturnsTheRequest()
    {
        await using TestRig rig = TestRig.Create(depth: 4);
        ValueTask read = rig.Device.ReadAsync(1024, new byte[512]);
        Request<TestRequest> held = await rig.Data.NextAsync();

        Assert.True(rig.TagSet.TryGetRequest(held.HwQueueIndex, held.Tag, out Request<TestRequest> found));
        Assert.Equal(2, found.Sector);

        found.End(BlockStatus.Ok);
        await read;
        Assert.Throws<InvalidOperationException>(() => held.End(BlockStatus.Ok));
    }

    [Fact]
    public async Task Rule3_LookupAfterEnd_ReturnsFalse()
    {
        await using TestRig rig = TestRig.Create(depth: 4);
        ValueTask read = rig.Device.ReadAsync(0, new byte[512]);
        Request<TestRequest> held = await rig.Data.NextAsync();
        int tag = held.Tag;
        held.End(BlockStatus.Ok);
        await read;

        Assert.False(rig.TagSet.TryGetRequest(0, tag, out _));
    }

    [Fact]
    public async Task Rule3_LookupOfForeignOrOutOfRangeTag_ReturnsFalse()
    {
        await using TestRig rig = TestRig.Create(queues: 2, depth: 4);
        ValueTask read = rig.Device.ReadAsync(0, new byte[512]);
        Request<TestRequest> held = await rig.Data.NextAsync();
        int other = 1 - held.HwQueueIndex;

        Assert.False(rig.TagSet.TryGetRequest(other, held.Tag, out _));
        Assert.False(rig.TagSet.TryGetRequest(0, -1, out _));
        Assert.False(rig.TagSet.TryGetRequest(0, 4, out _));
        Assert.False(rig.TagSet.TryGetRequest(7, 0, out _));
        Assert.False(rig.TagSet.TryGetRequest(-1, 0, out _));

        held.End(BlockStatus.Ok);
        await read;
    }

    [Fact]
    public async Task Rule3_LookupWhileBlockLayerOwnsIt_ReturnsFalse()
    {
        await using TestRig rig = TestRig.Create(depth: 4);
        await rig.Disk.QuiesceAsync();
        ValueTask read = rig.Device.ReadAsync(0, new byte[512]);

        // Allocated and held on the dispatch list while quiesced: not the driver's.
        Assert.Equal(1, rig.TagSet.TagsInUse);
        for (int tag = 0; tag < 4; tag++)
        {
            Assert.False(rig.TagSet.TryGetRequest(0, tag, out _));
        }

        rig.Disk.Unquiesce();
        Request<TestRequest> held = await rig.Data.NextAsync();
        held.End(BlockStatus.Ok);
        await read;
    }
}
