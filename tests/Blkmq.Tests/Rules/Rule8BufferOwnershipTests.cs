using Blkmq.Tests.Infrastructure;

namespace Blkmq.Tests.Rules;

/// <summary>
/// Rule 8: a buffer handed to a driver is never given back to its submitter while the driver may still touch it. A
/// forced end (timeout, removal) waits for the driver's end when the driver says its device still has the buffers
/// (<see cref="TimeoutAction.WillEnd"/>); after any end, the handle's segment list refuses to name a buffer.
/// </summary>
public sealed class Rule8BufferOwnershipTests
{
    [Fact]
    public async Task Rule8_DeviceWritesBuffer50MsAfterTimeout_SubmitterWaitsAndNoOtherIoChanges()
    {
        Task? lateDevice = null;
        await using TestRig rig = TestRig.Create(depth: 4, timeout: TimeSpan.FromSeconds(1), configure: d =>
        {
            d.OnQueueRq = (rq, _) =>
            {
                if (rq.Sector == 0)
                {
                    d.Hold(rq);
                }
                else
                {
                    rq.Segments[0].Span.Fill(0x22);
                    rq.End(BlockStatus.Ok);
                }

                return BlockStatus.Ok;
            };
            d.OnTimeout = rq =>
            {
                // The device is still writing into the buffer: cancel, and end when it lets go (io_uring style).
                Memory<byte> buffer = rq.Segments[0];
                lateDevice = Task.Run(async () =>
                {
                    await Task.Delay(50);
                    buffer.Span.Fill(0xEE);
                    rq.End(BlockStatus.IoError);
                });
                return TimeoutAction.WillEnd;
            };
        });
        byte[] timedOut = new byte[512];
        ValueTask<BlockStatus> read = rig.Device.ReadStatusAsync(0, timedOut);
        _ = await rig.Data.NextAsync();

        rig.Time!.AdjustTime(rig.Time.GetUtcNow() + TimeSpan.FromSeconds(2));
        rig.TagSet.ScanTimeouts();
        rig.TagSet.ScanTimeouts();

        // The submitter does not have its buffer back, so it cannot have reused it for other IO.
        Assert.False(read.IsCompleted);
        byte[][] others = [new byte[512], new byte[512], new byte[512]];
        for (int i = 0; i < others.Length; i++)
        {
            await rig.Device.ReadAsync(4096 * (i + 1), others[i]);
        }

        await lateDevice!.Guard();
        Assert.Equal(BlockStatus.IoError, await read.AsTask().Guard());
        Assert.All(timedOut, b => Assert.Equal(0xEE, b));
        Assert.All(others, buffer => Assert.All(buffer, b => Assert.Equal(0x22, b)));
        Assert.Equal(1, rig.Data.TimeoutCalls);
        rig.AssertIdle();
    }

    [Fact]
    public async Task Rule8_DriverSaidDone_ItsLaterBufferAccessFailsAndTheReusedBufferIsUntouched()
    {
        await using TestRig rig = TestRig.Create(depth: 1, timeout: TimeSpan.FromSeconds(1), configure: d => d.OnQueueRq = (rq, _) =>
        {
            if (rq.Sector == 0)
            {
                d.Hold(rq);
            }
            else
            {
                rq.Segments[0].Span.Fill(0x33);
                rq.End(BlockStatus.Ok);
            }

            return BlockStatus.Ok;
        });
        byte[] buffer = new byte[512];
        ValueTask<BlockStatus> read = rig.Device.ReadStatusAsync(0, buffer);
        Request<TestRequest> request = await rig.Data.NextAsync();
        RequestSegments<TestRequest> kept = request.Segments;

        rig.Time!.AdjustTime(rig.Time.GetUtcNow() + TimeSpan.FromSeconds(2));
        rig.TagSet.ScanTimeouts();
        Assert.Equal(BlockStatus.Timeout, await read.AsTask().Guard());

        // The submitter reuses its buffer for the next IO, which takes the same slot (depth 1).
        await rig.Device.ReadAsync(4096, buffer);

        // 50 ms late, the driver tries to write through what it kept (defect 4: it used to see the next IO's buffers).
        await Task.Delay(50);
        Assert.Throws<InvalidOperationException>(() => kept[0]);
        Assert.Throws<InvalidOperationException>(() => kept.Count);
        Assert.Throws<InvalidOperationException>(() => request.Segments);
        Assert.All(buffer, b => Assert.Equal(0x33, b));
        rig.AssertIdle();
    }

    [Fact]
    public async Task Rule8_SegmentsEnumeratedAcrossTheEnd_FailOnTheNextStep()
    {
        await using TestRig rig = TestRig.Create(depth: 1);
        var batch = new BlockBatch(rig.Device);
        batch.Read(0, new byte[512]);
        batch.Read(512, new byte[512]);
        Task submitted = batch.SubmitAsync().AsTask();
        Request<TestRequest> request = await rig.Data.NextAsync();
        if (request.Segments.Count < 2)
        {
            // Not merged on this run: nothing to enumerate across.
            request.End(BlockStatus.Ok);
            (await rig.Data.NextAsync()).End(BlockStatus.Ok);
            await submitted.Guard();
            return;
        }

        RequestSegments<TestRequest>.Enumerator segments = request.Segments.GetEnumerator();
        Assert.True(segments.MoveNext());
        _ = segments.Current;
        request.End(BlockStatus.Ok);
        Assert.True(segments.MoveNext());
        Assert.Throws<InvalidOperationException>(() => segments.Current);
        await submitted.Guard();
    }

    [Fact]
    public async Task Rule8_SegmentSnapshot_StaysReadableAfterTheEnd()
    {
        await using TestRig rig = TestRig.Create();
        byte[] buffer = new byte[1024];
        ValueTask read = rig.Device.ReadAsync(0, buffer);
        Request<TestRequest> request = await rig.Data.NextAsync();
        Memory<byte>[] snapshot = request.Segments.ToArray();
        request.End(BlockStatus.Ok);
        await read;

        Assert.Single(snapshot);
        Assert.Equal(1024, snapshot[0].Length);
        Assert.True(snapshot[0].Span == buffer.AsSpan());
    }

    [Fact]
    public async Task Rule8_RemovalAfterGrace_DriverStillHoldsBuffers_WaitsForItsEnd()
    {
        Task? lateDevice = null;
        using var ended = new ManualResetEventSlim();
        await using TestRig rig = TestRig.Create(fakeTime: false, configure: d => d.OnTimeout = rq =>
        {
            lateDevice = Task.Run(async () =>
            {
                await Task.Delay(100);
                ended.Set();
                rq.End(BlockStatus.ZoneError);
            });
            return TimeoutAction.WillEnd;
        });
        ValueTask<BlockStatus> read = rig.Device.ReadStatusAsync(0, new byte[512]);
        _ = await rig.Data.NextAsync();

        await rig.Disk.RemoveAsync(TimeSpan.FromMilliseconds(20)).AsTask().Guard();

        Assert.True(ended.IsSet, "removal returned before the driver let go of the buffers");
        Assert.Equal(BlockStatus.ZoneError, await read.AsTask().Guard());
        Assert.Equal(1, rig.Data.TimeoutCalls);
        await lateDevice!.Guard();
    }

    [Fact]
    public async Task Rule8_RemovalAfterGrace_DriverDone_FailsOffline()
    {
        await using TestRig rig = TestRig.Create(fakeTime: false);
        ValueTask<BlockStatus> read = rig.Device.ReadStatusAsync(0, new byte[512]);
        Request<TestRequest> request = await rig.Data.NextAsync();

        await rig.Disk.RemoveAsync(TimeSpan.FromMilliseconds(20)).AsTask().Guard();

        Assert.Equal(BlockStatus.Offline, await read.AsTask().Guard());
        Assert.Equal(1, rig.Data.TimeoutCalls);
        Assert.False(request.TryEnd(BlockStatus.Ok));
    }
}
