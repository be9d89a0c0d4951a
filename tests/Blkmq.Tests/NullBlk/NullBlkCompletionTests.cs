using System.Diagnostics;
using Blkmq.Drivers.Null;
using Blkmq.Tests.Infrastructure;

namespace Blkmq.Tests.NullBlk;

/// <summary>irqmode and completion_nsec: where and when a request ends.</summary>
public sealed class NullBlkCompletionTests
{
    [Fact]
    public async Task IrqModeNone_EndsTheRequestBeforeTheCallReturns()
    {
        await using NullBlock nullb = NullBlock.Create("irqmode=0,size=1M");
        ValueTask read = nullb.Disk.OpenDevice().ReadAsync(0, new byte[512]);
        Assert.True(read.IsCompletedSuccessfully);
        await read;
    }

    [Theory]
    [InlineData("irqmode=1")]
    [InlineData("irqmode=2,completion_nsec=1000")]
    public async Task DeferredModes_Complete(string mode)
    {
        await using NullBlock nullb = NullBlock.Create(mode + ",size=1M,memory_backed=1");
        BlockDevice device = nullb.Disk.OpenDevice();
        await device.WriteAsync(0, new byte[] { 1, 2, 3 }.Concat(new byte[509]).ToArray()).AsTask().Guard();
        byte[] back = new byte[512];
        await device.ReadAsync(0, back).AsTask().Guard();
        Assert.Equal(3, back[2]);
    }

    [Fact]
    public async Task Timer_CompletesNoEarlierThanCompletionNsec()
    {
        // A lower bound only: the timer can never fire early, however slow the machine.
        await using NullBlock nullb = NullBlock.Create("irqmode=2,completion_nsec=50000000,size=1M");
        var clock = Stopwatch.StartNew();
        await nullb.Disk.OpenDevice().ReadAsync(0, new byte[512]).AsTask().Guard();
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(50), $"completed after {clock.Elapsed.TotalMilliseconds} ms");
    }

    [Theory]
    [InlineData("irqmode=0")]
    [InlineData("irqmode=1")]
    [InlineData("irqmode=2,completion_nsec=100000")]
    public async Task CreateThenRemoveAtOnce_NeverHangs(string mode)
    {
        // Removal right after creation races the timer thread's start (irqmode=2): a stop signalled between the
        // thread's look at the stop flag and its reset of the idle wake-up was lost, and removal joined the thread
        // for ever (the fuzz harness's export-spec hang). One queue, so that nothing lies between the thread's
        // start and its removal. Removal blocks its caller while it joins the thread, so each create and remove
        // runs on the pool, where the guard can turn a hang into a failure.
        for (int i = 0; i < 200; i++)
        {
            await Task.Run(async () =>
            {
                NullBlock nullb = NullBlock.Create(mode + ",size=1M");
                await nullb.DisposeAsync();
            }).Guard(() => $"removal {i} of '{mode}' never finished");
        }
    }
}
