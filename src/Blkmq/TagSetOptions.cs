using Microsoft.Extensions.Logging;

namespace Blkmq;

/// <summary>The shape of a tag set (Linux <c>struct blk_mq_tag_set</c>): queues, depth, timeout, flags.</summary>
public sealed record TagSetOptions
{
    /// <summary>Gets the number of default (interrupt-driven) hardware queues; at least 1.</summary>
    public int HardwareQueueCount { get; init; } = 1;

    /// <summary>Gets the number of poll queues, whose requests complete only when polled; may be 0.</summary>
    public int PollQueueCount { get; init; }

    /// <summary>Gets the number of tags per hardware queue, shared by all disks of the tag set; 1 to 65536.</summary>
    public int QueueDepth { get; init; } = 64;

    /// <summary>Gets the most data segments a request can carry; every slot preallocates this many. 1 to 4096.</summary>
    public int MaxSegments { get; init; } = 128;

    /// <summary>Gets how long a request may stay with the driver before its timeout handling runs. Default 30 s.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Gets whether the driver's <c>QueueRq</c> may block (<c>BLK_MQ_F_BLOCKING</c>): the block layer then never
    /// dispatches from a completion, timeout or poll context (a submission made there, such as a continuation
    /// resumed by a completion, is handed to the queue's dispatch work item) and runs requeues on a work item apart
    /// from the completion work, so a sleeping <c>QueueRq</c> holds up neither completions nor other queues.
    /// </summary>
    public bool Blocking { get; init; }

    /// <summary>Gets the clock for timestamps, statistics and timeouts. Default: <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Gets the logger factory; none by default.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>Gets the total number of hardware queues.</summary>
    public int TotalQueueCount => HardwareQueueCount + PollQueueCount;

    /// <summary>Checks every value and throws an <see cref="ArgumentException"/> naming the first wrong one.</summary>
    public void Validate()
    {
        if (HardwareQueueCount is < 1 or > 1024)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(HardwareQueueCount), HardwareQueueCount, "A tag set needs 1 to 1024 hardware queues.");
        }

        if (PollQueueCount is < 0 or > 1024)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(PollQueueCount), PollQueueCount, "Poll queues must be 0 to 1024.");
        }

        if (QueueDepth is < 1 or > 65536)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(QueueDepth), QueueDepth, "Queue depth must be 1 to 65536.");
        }

        if (MaxSegments is < 1 or > 4096)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(MaxSegments), MaxSegments, "Max segments must be 1 to 4096.");
        }

        if (RequestTimeout <= TimeSpan.Zero)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(RequestTimeout), RequestTimeout, "The request timeout must be positive.");
        }
    }
}
