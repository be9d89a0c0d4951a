using Blkmq.Tests.Infrastructure;

namespace Blkmq.Tests.Rules;

/// <summary>Rule 2: after the end the handle is dead; reading its fields fails, also after the slot was recycled (no ABA).</summary>
public sealed class Rule2UseAfterEndTests
{
    [Fact]
    public async Task Rule2_ReadFieldsAfterEnd_Throws()
    {
        await using TestRig rig = TestRig.Create();
        byte[] buffer = new byte[1024];
        ValueTask read = rig.Device.ReadAsync(2048, buffer);
        Request<TestRequest> request = await rig.Data.NextAsync();
        Assert.Equal(4, request.Sector);
        Assert.Equal(1024, request.Length);
        Assert.Equal(RequestOp.Read, request.Op);
        Assert.Equal(1, request.Segments.Count);

        request.End(BlockStatus.Ok);
        await read;

        Assert.False(request.IsOwned);
        Assert.Throws<InvalidOperationException>(() => request.Sector);
        Assert.Throws<InvalidOperationException>(() => request.Length);
        Assert.Throws<InvalidOperationException>(() => request.Op);
        Assert.Throws<InvalidOperationException>(() => request.Flags);
        Assert.Throws<InvalidOperationException>(() => request.Segments.Count);
        Assert.Throws<InvalidOperationException>(() => request.Data.Uses);
        Assert.Throws<InvalidOperationException>(() => request.Tag);
    }

    [Fact]
    public async Task Rule2_StaleHandleAfterRecycle_SeesNothingOfTheNewIo()
    {
        await using TestRig rig = TestRig.Create(depth: 1);
        ValueTask first = rig.Device.WriteAsync(0, new byte[512]);
        Request<TestRequest> stale = await rig.Data.NextAsync();
        stale.End(BlockStatus.Ok);
        await first;

        byte[] buffer = new byte[4096];
        ValueTask second = rig.Device.ReadAsync(8192, buffer);
        Request<TestRequest> current = await rig.Data.NextAsync();

        // Same slot, new generation: the old handle must neither read the new IO nor end it.
        Assert.Equal(2, current.Data.Uses);
        Assert.Throws<InvalidOperationException>(() => stale.Sector);
        Assert.Throws<InvalidOperationException>(() => stale.Segments.Count);
        Assert.Throws<InvalidOperationException>(() => stale.End(BlockStatus.IoError));
        Assert.Equal(16, current.Sector);
        Assert.Equal(RequestOp.Read, current.Op);

        current.End(BlockStatus.Ok);
        await second;
        rig.AssertIdle();
    }

    [Fact]
    public void Rule2_DefaultHandle_IsNotOwnedAndThrows()
    {
        Request<TestRequest> none = default;
        Assert.False(none.IsOwned);
        Assert.False(none.TryEnd(BlockStatus.Ok));
        Assert.Throws<InvalidOperationException>(() => none.Sector);
    }
}
