using System.Collections.Concurrent;

namespace Blkmq.Concurrency.Tests.Infrastructure;

/// <summary>
/// What the probe driver does and what it saw: each callback's behaviour is a replaceable delegate, every callback
/// is counted, and once the test calls <see cref="Seal"/> (after a disk removal returned) any callback that is still
/// running or starts later is recorded as a violation. Serves as the disk data too, so <c>QueueRq</c> reaches it.
/// </summary>
public sealed class DriverProbe
{
    private readonly int[] _calls = new int[Enum.GetValues<CallbackKind>().Length];
    private readonly ConcurrentQueue<string> _violations = new();
    private int _active;
    private int _sealed;

    /// <summary>What <c>QueueRq</c> does with a request.</summary>
    /// <param name="hwQueue">The hardware queue's data.</param>
    /// <param name="request">The request, owned by the driver.</param>
    /// <param name="isLast">Whether it ends a batch.</param>
    /// <returns>The status <c>QueueRq</c> returns.</returns>
    public delegate BlockStatus QueueRqHandler(ProbeHwQueue hwQueue, Request<ProbeRequest> request, bool isLast);

    /// <summary>Gets or sets how many of the tag set's queues are default queues (the rest are poll queues).</summary>
    public int HardwareQueueCount { get; set; } = 1;

    /// <summary>Gets or sets <c>QueueRq</c>'s behaviour; by default poll-queue requests are parked for a poll and all others end inline.</summary>
    public QueueRqHandler OnQueueRq { get; set; } = EndInlineOrPark;

    /// <summary>Gets or sets <c>Complete</c>'s behaviour; by default it ends the request with its completion status.</summary>
    public Action<Request<ProbeRequest>> OnComplete { get; set; } = static request => request.End(request.CompletionStatus);

    /// <summary>Gets or sets <c>Timeout</c>'s behaviour; by default the block layer times the request out.</summary>
    public Func<Request<ProbeRequest>, TimeoutAction> OnTimeout { get; set; } = static _ => TimeoutAction.Done;

    /// <summary>Gets the handles <see cref="Capture"/> kept, for the test to end from any thread.</summary>
    public ConcurrentQueue<Request<ProbeRequest>> Captured { get; } = new();

    /// <summary>Gets the violations recorded so far (callbacks after <see cref="Seal"/>, polls of exited queues).</summary>
    public IReadOnlyCollection<string> Violations => _violations;

    /// <summary>Ends a request inside <c>QueueRq</c>, or parks it for a poll on a poll queue.</summary>
    public static BlockStatus EndInlineOrPark(ProbeHwQueue hwQueue, Request<ProbeRequest> request, bool isLast)
    {
        if (hwQueue.IsPoll)
        {
            hwQueue.Polled.Enqueue(request);
        }
        else
        {
            request.EndOk();
        }

        return BlockStatus.Ok;
    }

    /// <summary>Keeps the handle in <see cref="Captured"/> and takes the request without ending it.</summary>
    public BlockStatus Capture(ProbeHwQueue hwQueue, Request<ProbeRequest> request, bool isLast)
    {
        Captured.Enqueue(request);
        return BlockStatus.Ok;
    }

    /// <summary>Waits until a handle was captured and takes it.</summary>
    /// <returns>The handle.</returns>
    public Request<ProbeRequest> TakeCaptured()
    {
        Request<ProbeRequest> request = default;
        HangGuard.Until(() => Captured.TryDequeue(out request), "a request to reach QueueRq");
        return request;
    }

    /// <summary>Gets how many times a callback ran.</summary>
    /// <param name="kind">The callback.</param>
    /// <returns>The count.</returns>
    public int Calls(CallbackKind kind) => Volatile.Read(ref _calls[(int)kind]);

    /// <summary>
    /// Declares that no callback may run from now on (the disk removal returned). A callback still running now, or
    /// starting later, is a violation.
    /// </summary>
    public void Seal()
    {
        // Full fence between publishing the seal and reading the active count; Enter does the mirror image, so
        // a callback either sees the seal or is counted here.
        Interlocked.Exchange(ref _sealed, 1);
        int active = Volatile.Read(ref _active);
        if (active != 0)
        {
            _violations.Enqueue($"{active} driver callback(s) still running when removal returned");
        }
    }

    internal CallbackScope Enter(CallbackKind kind)
    {
        Interlocked.Increment(ref _calls[(int)kind]);
        Interlocked.Increment(ref _active);
        if (Volatile.Read(ref _sealed) != 0)
        {
            _violations.Enqueue($"{kind} called after removal returned");
        }

        return new CallbackScope(this);
    }

    internal void Exit() => Interlocked.Decrement(ref _active);

    internal void Violation(string what) => _violations.Enqueue(what);
}
