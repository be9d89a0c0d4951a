namespace Blkmq;

/// <summary>
/// Runs the work items the block layer would queue to the thread pool (completion contexts, a blocking driver's
/// dispatch runs, the publication of an end made on a foreign thread). Only the seeded simulator sets one
/// (<see cref="TagSetCore.WorkScheduler"/>), so that those items run in an order its seed chooses; without one
/// they go to the thread pool as they always do.
/// </summary>
internal interface IWorkScheduler
{
    /// <summary>Queues <paramref name="item"/> to run once, later, never inside this call.</summary>
    void Queue(IThreadPoolWorkItem item);
}
