using Blkmq.Tests.Infrastructure;

namespace Blkmq.Tests.Rules;

/// <summary>
/// Rule 10: a completion token carried through a foreign API finds that exact IO or nothing; an end from a foreign
/// thread never runs the submitter's continuation on that thread unless the driver asks for it.
/// </summary>
public sealed class Rule10CompletionTokenTests
{
    [Fact]
    public async Task Rule10_Token_FindsItsIoWhileOwned_NothingAfterItsEnd()
    {
        await using TestRig rig = TestRig.Create(depth: 1);
        ValueTask first = rig.Device.ReadAsync(4096, new byte[512]);
        Request<TestRequest> request = await rig.Data.NextAsync();
        RequestToken token = request.Token;
        int tag = request.Tag;

        // Through a foreign API: only the 64-bit value travels.
        ulong userData = token.Value;
        Assert.True(rig.TagSet.TryGetRequest(new RequestToken(userData), out Request<TestRequest> found));
        Assert.Equal(4096 >> 9, found.Sector);
        Assert.Equal(request.Tag, new RequestToken(userData).Tag);
        Assert.Equal(request.HwQueueIndex, new RequestToken(userData).HwQueueIndex);

        request.End(BlockStatus.Ok);
        await first;
        Assert.False(rig.TagSet.TryGetRequest(token, out _));

        // Depth 1: the next IO has the same queue and tag, and still the old token finds nothing.
        ValueTask second = rig.Device.ReadAsync(8192, new byte[512]);
        Request<TestRequest> next = await rig.Data.NextAsync();
        Assert.Equal(tag, next.Tag);
        Assert.False(rig.TagSet.TryGetRequest(token, out _));
        Assert.NotEqual(token, next.Token);
        Assert.True(rig.TagSet.TryGetRequest(next.Token, out Request<TestRequest> current));
        Assert.Equal(8192 >> 9, current.Sector);

        next.End(BlockStatus.Ok);
        await second;
    }

    [Theory]
    [InlineData(0UL)]
    [InlineData(ulong.MaxValue)]
    [InlineData(0x7FF0_0000_0000_0001UL)]
    [InlineData(0x0010_0000_0000_0002UL)]
    public async Task Rule10_ForgedOrDefaultToken_FindsNothing(ulong value)
    {
        await using TestRig rig = TestRig.Create();
        ValueTask read = rig.Device.ReadAsync(0, new byte[512]);
        Request<TestRequest> request = await rig.Data.NextAsync();

        Assert.False(rig.TagSet.TryGetRequest(new RequestToken(value), out _));
        Assert.False(default(RequestToken).IsValid);

        request.End(BlockStatus.Ok);
        await read;
    }

    [Fact]
    public async Task Rule10_EndFromForeignThread_ContinuationRunsElsewhere()
    {
        await using TestRig rig = TestRig.Create();
        ValueTask read = rig.Device.ReadAsync(0, new byte[512]);
        Request<TestRequest> request = await rig.Data.NextAsync();
        Task<int> continuationThread = ThreadAfter(read);

        int enderThread = EndOnNewThread(request, EndOptions.None, continuationThread, out _);

        Assert.NotEqual(enderThread, await continuationThread.Guard());
        rig.AssertIdle();
    }

    [Fact]
    public async Task Rule10_EndWithRunContinuationInline_ContinuationRunsOnTheEndingThread()
    {
        await using TestRig rig = TestRig.Create();
        ValueTask read = rig.Device.ReadAsync(0, new byte[512]);
        Request<TestRequest> request = await rig.Data.NextAsync();
        Task<int> continuationThread = ThreadAfter(read);

        int enderThread = EndOnNewThread(request, EndOptions.RunContinuationInline, continuationThread, out bool ranBeforeEndReturned);

        Assert.True(ranBeforeEndReturned);
        Assert.Equal(enderThread, await continuationThread.Guard());
    }

    [Fact]
    public async Task Rule10_EndFromForeignThread_BatchTargetIsNotCalledThere()
    {
        await using TestRig rig = TestRig.Create();
        var batch = new BlockBatch(rig.Device);
        batch.Read(0, new byte[512]);
        Task<int> continuationThread = ThreadAfter(batch.SubmitAsync());
        Request<TestRequest> request = await rig.Data.NextAsync();

        int enderThread = EndOnNewThread(request, EndOptions.None, continuationThread, out _);

        Assert.NotEqual(enderThread, await continuationThread.Guard());
    }

    /// <summary>Ends the request on a thread of its own, as a device's completion thread would; returns that thread's id.</summary>
    private static int EndOnNewThread(Request<TestRequest> request, EndOptions options, Task continuation, out bool continuationRanBeforeEndReturned)
    {
        int enderThread = 0;
        bool ranBefore = false;
        var ender = new Thread(() =>
        {
            enderThread = Environment.CurrentManagedThreadId;
            request.End(BlockStatus.Ok, options);
            ranBefore = continuation.IsCompleted;
        });
        ender.Start();
        ender.Join();
        continuationRanBeforeEndReturned = ranBefore;
        return enderThread;
    }

    private static async Task<int> ThreadAfter(ValueTask io)
    {
        await io.ConfigureAwait(false);
        return Environment.CurrentManagedThreadId;
    }
}
