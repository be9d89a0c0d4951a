using System.Threading.Channels;

namespace Blkmq.Tests.Infrastructure;

/// <summary>Per-request data of the test driver: counts how often the slot was handed out.</summary>
public struct TestRequest
{
    public int Uses { get; set; }
}

/// <summary>Per-hardware-queue data of the test driver.</summary>
public sealed class TestHw
{
    public TestHw(int index) => Index = index;

    public int Index { get; }
}

/// <summary>
/// The test driver's per-disk data: its behaviour (delegates the tests set) and what it saw. By default QueueRq
/// holds every request (the test ends it later through <see cref="NextAsync"/>).
/// </summary>
public sealed class TestDisk
{
    private readonly Channel<Request<TestRequest>> _held = Channel.CreateUnbounded<Request<TestRequest>>();
    private int _queueRqCalls;
    private int _completeCalls;
    private int _timeoutCalls;
    private int _commitCalls;
    private int _exitHctxCalls;
    private int _callbacksAfterRemoval;
    private bool _removed;

    public Func<Request<TestRequest>, bool, BlockStatus>? OnQueueRq { get; set; }

    public Action<Request<TestRequest>>? OnComplete { get; set; }

    public Func<Request<TestRequest>, TimeoutAction>? OnTimeout { get; set; }

    public Func<int, TestHw>? OnInitHctx { get; set; }

    /// <summary>Set by a test right after RemoveAsync returned; any callback after that is counted.</summary>
    public bool Removed { get => Volatile.Read(ref _removed); set => Volatile.Write(ref _removed, value); }

    public int QueueRqCalls => Volatile.Read(ref _queueRqCalls);

    public int CompleteCalls => Volatile.Read(ref _completeCalls);

    public int TimeoutCalls => Volatile.Read(ref _timeoutCalls);

    public int CommitCalls => Volatile.Read(ref _commitCalls);

    public int ExitHctxCalls => Volatile.Read(ref _exitHctxCalls);

    public int CallbacksAfterRemoval => Volatile.Read(ref _callbacksAfterRemoval);

    /// <summary>Holds a request for the test.</summary>
    public void Hold(Request<TestRequest> request) => _held.Writer.TryWrite(request);

    /// <summary>Waits for the next request the driver held.</summary>
    public async Task<Request<TestRequest>> NextAsync() =>
        await _held.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));

    public bool TryNext(out Request<TestRequest> request) => _held.Reader.TryRead(out request);

    internal BlockStatus QueueRq(Request<TestRequest> request, bool isLast)
    {
        Interlocked.Increment(ref _queueRqCalls);
        Observe();
        request.Data.Uses++;
        if (OnQueueRq is { } handler)
        {
            return handler(request, isLast);
        }

        Hold(request);
        return BlockStatus.Ok;
    }

    internal void Complete(Request<TestRequest> request)
    {
        Interlocked.Increment(ref _completeCalls);
        Observe();
        if (OnComplete is { } handler)
        {
            handler(request);
        }
        else
        {
            request.End(request.CompletionStatus);
        }
    }

    internal TimeoutAction Timeout(Request<TestRequest> request)
    {
        Interlocked.Increment(ref _timeoutCalls);
        Observe();
        return OnTimeout?.Invoke(request) ?? TimeoutAction.Done;
    }

    internal void Commit()
    {
        Interlocked.Increment(ref _commitCalls);
        Observe();
    }

    internal void ExitHctx()
    {
        Interlocked.Increment(ref _exitHctxCalls);
        Observe();
    }

    private void Observe()
    {
        if (Removed)
        {
            Interlocked.Increment(ref _callbacksAfterRemoval);
        }
    }
}

/// <summary>A driver whose behaviour is whatever the test puts in its <see cref="TestDisk"/>.</summary>
public readonly struct TestDriver : IBlockDriver<TestRequest, TestHw, TestDisk>
{
    public BlockStatus QueueRq(ref TestHw hwQueue, TestDisk disk, Request<TestRequest> request, bool isLast) =>
        disk.QueueRq(request, isLast);

    public void CommitRqs(ref TestHw hwQueue, TestDisk disk) => disk.Commit();

    public void Complete(TestDisk disk, Request<TestRequest> request) => disk.Complete(request);

    public TestHw InitHctx(TestDisk disk, int hwQueueIndex) =>
        disk.OnInitHctx is { } init ? init(hwQueueIndex) : new TestHw(hwQueueIndex);

    public void ExitHctx(ref TestHw hwQueue, TestDisk disk) => disk.ExitHctx();

    public TestRequest InitRequest(int hwQueueIndex, int tag) => default;

    public TimeoutAction Timeout(TestDisk disk, Request<TestRequest> request) => disk.Timeout(request);
}
