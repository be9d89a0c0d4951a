using Blkmq.Tests.Infrastructure;

namespace Blkmq.Tests.ContractV2;

/// <summary>
/// Defect 1 of the driver contract v2 issue: the status given to <c>Request.Complete</c> must reach the driver's
/// <c>Complete</c> callback and the submitter (it was dropped on the way into the callback, so an IO to a bad block
/// succeeded with null_blk's default softirq completion).
/// </summary>
public sealed class CompleteStatusTests
{
    [Theory]
    [InlineData(BlockStatus.IoError)]
    [InlineData(BlockStatus.NoSpace)]
    [InlineData(BlockStatus.Ok)]
    public async Task Complete_WithStatus_CallbackSeesItAndSubmitterGetsIt(BlockStatus status)
    {
        BlockStatus seenInCallback = (BlockStatus)255;
        await using TestRig rig = TestRig.Create(configure: d =>
        {
            d.OnQueueRq = (rq, _) =>
            {
                rq.Complete(status);
                return BlockStatus.Ok;
            };
            d.OnComplete = rq =>
            {
                seenInCallback = rq.CompletionStatus;
                rq.End(rq.CompletionStatus);
            };
        });

        BlockStatus seen = await rig.Device.ReadStatusAsync(0, new byte[512]).AsTask().Guard();

        Assert.Equal(status, seenInCallback);
        Assert.Equal(status, seen);
        rig.AssertIdle();
    }

    [Fact]
    public async Task Complete_FromAnotherThread_StatusReachesTheSubmitter()
    {
        await using TestRig rig = TestRig.Create();
        ValueTask<BlockStatus> read = rig.Device.ReadStatusAsync(0, new byte[512]);
        Request<TestRequest> request = await rig.Data.NextAsync();

        await Task.Run(() => request.Complete(BlockStatus.ZoneError));

        Assert.Equal(BlockStatus.ZoneError, await read.AsTask().Guard());
        rig.AssertIdle();
    }
}
