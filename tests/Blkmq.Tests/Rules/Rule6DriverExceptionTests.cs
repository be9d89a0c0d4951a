using Blkmq.Tests.Infrastructure;

namespace Blkmq.Tests.Rules;

/// <summary>Rule 6: an exception thrown by a driver callback ends that request with an error; the queue keeps running.</summary>
public sealed class Rule6DriverExceptionTests
{
    [Fact]
    public async Task Rule6_QueueRqThrows_RequestFailsAndQueueRuns()
    {
        int calls = 0;
        await using TestRig rig = TestRig.Create(configure: d => d.OnQueueRq = (rq, _) =>
        {
            if (Interlocked.Increment(ref calls) == 1)
            {
                throw new InvalidDataException("driver bug");
            }

            rq.End(BlockStatus.Ok);
            return BlockStatus.Ok;
        });

        BlockIOException error = await Assert.ThrowsAsync<BlockIOException>(async () => await rig.Device.ReadAsync(0, new byte[512]));
        Assert.Equal(BlockStatus.IoError, error.Status);
        await rig.Device.ReadAsync(0, new byte[512]);
        rig.AssertIdle();
    }

    [Fact]
    public async Task Rule6_QueueRqThrowsAfterEnding_EndStands()
    {
        await using TestRig rig = TestRig.Create(configure: d => d.OnQueueRq = (rq, _) =>
        {
            rq.End(BlockStatus.Ok);
            throw new InvalidDataException("driver bug after end");
        });

        await rig.Device.ReadAsync(0, new byte[512]);
        rig.AssertIdle();
    }

    [Fact]
    public async Task Rule6_CompleteThrows_RequestFailsAndQueueRuns()
    {
        int calls = 0;
        await using TestRig rig = TestRig.Create(configure: d =>
        {
            d.OnQueueRq = (rq, _) =>
            {
                rq.Complete(BlockStatus.Ok);
                return BlockStatus.Ok;
            };
            d.OnComplete = rq =>
            {
                if (Interlocked.Increment(ref calls) == 1)
                {
                    throw new InvalidDataException("complete bug");
                }

                rq.End(rq.CompletionStatus);
            };
        });

        BlockIOException error = await Assert.ThrowsAsync<BlockIOException>(async () => await rig.Device.ReadAsync(0, new byte[512]));
        Assert.Equal(BlockStatus.IoError, error.Status);
        await rig.Device.ReadAsync(0, new byte[512]);
        rig.AssertIdle();
    }

    [Fact]
    public async Task Rule6_CompleteForgetsToEnd_RequestFailsInsteadOfHanging()
    {
        await using TestRig rig = TestRig.Create(configure: d =>
        {
            d.OnQueueRq = (rq, _) =>
            {
                rq.Complete(BlockStatus.Ok);
                return BlockStatus.Ok;
            };
            d.OnComplete = _ => { };
        });

        BlockIOException error = await Assert.ThrowsAsync<BlockIOException>(async () => await rig.Device.ReadAsync(0, new byte[512]).AsTask().WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(BlockStatus.IoError, error.Status);
        rig.AssertIdle();
    }

    [Fact]
    public async Task Rule6_InitHctxThrows_AddDiskFailsCleanly()
    {
        await using var tagSet = new TagSet<TestDriver, TestRequest, TestHw, TestDisk>(default, new TagSetOptions { HardwareQueueCount = 3, QueueDepth = 2 });
        var failing = new TestDisk { OnInitHctx = i => i == 2 ? throw new InvalidDataException("init_hctx failed") : new TestHw(i) };

        var error = Assert.Throws<InvalidDataException>(() => tagSet.AddDisk(failing, new DiskOptions { Name = "bad", Capacity = 4096 }));
        Assert.Equal("init_hctx failed", error.Message);
        Assert.Equal(2, failing.ExitHctxCalls);
        Assert.Empty(tagSet.Disks);

        // The tag set still serves a good disk, even under the same name.
        var good = new TestDisk { OnQueueRq = (rq, _) => { rq.End(BlockStatus.Ok); return BlockStatus.Ok; } };
        Disk disk = tagSet.AddDisk(good, new DiskOptions { Name = "bad", Capacity = 4096 });
        await disk.OpenDevice().ReadAsync(0, new byte[512]);
    }

    [Theory]
    [InlineData(99)]
    [InlineData(9)]
    [InlineData(255)]
    public async Task Rule6_UnknownStatus_FailsWithIoError(int unknown)
    {
        await using TestRig rig = TestRig.Create(configure: d => d.OnQueueRq = (_, _) => (BlockStatus)unknown);

        BlockIOException error = await Assert.ThrowsAsync<BlockIOException>(async () => await rig.Device.ReadAsync(0, new byte[512]));
        Assert.Equal(BlockStatus.IoError, error.Status);
        rig.AssertIdle();
    }

    [Fact]
    public async Task Rule6_ErrorStatusFromQueueRq_EndsRequestWithIt()
    {
        await using TestRig rig = TestRig.Create(configure: d => d.OnQueueRq = (_, _) => BlockStatus.NotSupported);

        BlockIOException error = await Assert.ThrowsAsync<BlockIOException>(async () => await rig.Device.WriteAsync(0, new byte[512]));
        Assert.Equal(BlockStatus.NotSupported, error.Status);
        Assert.Contains("Write of 512 bytes at offset 0", error.Message, StringComparison.Ordinal);
        rig.AssertIdle();
    }

    [Fact]
    public void Rule6_EndWithBusyStatus_IsRejected()
    {
        Request<TestRequest> none = default;
        Assert.Throws<ArgumentOutOfRangeException>(() => none.End(BlockStatus.Busy));
        Assert.Throws<ArgumentOutOfRangeException>(() => none.End(BlockStatus.ResourceBusy));
        Assert.Throws<ArgumentOutOfRangeException>(() => none.TryEnd((BlockStatus)200));
        Assert.Throws<ArgumentOutOfRangeException>(() => none.TryEnd((BlockStatus)9));
    }
}
