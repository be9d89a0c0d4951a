namespace Blkmq;

/// <summary>How <see cref="Request{TData}.End(BlockStatus, EndOptions)"/> treats the submitter waiting for the request.</summary>
[Flags]
public enum EndOptions
{
    /// <summary>
    /// The default: on a thread the block layer runs (inside <c>QueueRq</c>, <c>Complete</c>, <c>Timeout</c>,
    /// <c>Poll</c>) the submitter is resumed there; on any other thread (an io_uring reaper, a librbd callback
    /// thread, a driver's timer) it is resumed on the thread pool, so the ending thread goes straight back to its
    /// device.
    /// </summary>
    None = 0,

    /// <summary>
    /// Resume the submitter on this thread before the call returns, whatever the thread: for a driver whose
    /// completion thread is cheap to lend (null_blk's timer, a thread that reaps and then sleeps anyway). Inside
    /// <c>QueueRq</c> the block layer still waits for the call to return first.
    /// </summary>
    RunContinuationInline = 1,
}
