namespace Blkmq;

/// <summary>
/// Maps each processor to the hardware queue its submissions go to (Linux <c>blk_mq_queue_map</c>), one map for
/// default queues and one for poll queues.
/// </summary>
public sealed class QueueMap
{
    private readonly int[] _defaultQueues;
    private readonly int[] _pollQueues;

    internal QueueMap(int processorCount, int submitQueueCount, int pollQueueCount)
    {
        ProcessorCount = processorCount;
        SubmitQueueCount = submitQueueCount;
        PollQueueCount = pollQueueCount;
        _defaultQueues = new int[processorCount];
        _pollQueues = new int[processorCount];
    }

    /// <summary>Gets how many processors the map covers.</summary>
    public int ProcessorCount { get; }

    /// <summary>Gets the number of default (interrupt-driven) hardware queues, indexes 0 to this count minus one.</summary>
    public int SubmitQueueCount { get; }

    /// <summary>Gets the number of poll queues, which follow the default queues in index order.</summary>
    public int PollQueueCount { get; }

    /// <summary>Sends submissions from <paramref name="processor"/> to default queue <paramref name="hwQueueIndex"/>.</summary>
    /// <param name="processor">A processor number, 0 to <see cref="ProcessorCount"/> minus one.</param>
    /// <param name="hwQueueIndex">A default queue index, 0 to <see cref="SubmitQueueCount"/> minus one.</param>
    public void Map(int processor, int hwQueueIndex)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(processor);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(processor, ProcessorCount);
        ArgumentOutOfRangeException.ThrowIfNegative(hwQueueIndex);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(hwQueueIndex, SubmitQueueCount);
        _defaultQueues[processor] = hwQueueIndex;
    }

    /// <summary>Spreads processors over the default and poll queues round robin (<c>blk_mq_map_queues</c>).</summary>
    public void MapRoundRobin()
    {
        for (int cpu = 0; cpu < ProcessorCount; cpu++)
        {
            _defaultQueues[cpu] = cpu % SubmitQueueCount;
            _pollQueues[cpu] = PollQueueCount == 0 ? 0 : SubmitQueueCount + (cpu % PollQueueCount);
        }
    }

    /// <summary>Gets the default hardware queue for a processor.</summary>
    /// <param name="processor">A processor number.</param>
    /// <returns>The hardware queue index.</returns>
    public int GetQueue(int processor) => _defaultQueues[processor];

    internal int[] DefaultQueues => _defaultQueues;

    internal int[] PollQueues => _pollQueues;
}
