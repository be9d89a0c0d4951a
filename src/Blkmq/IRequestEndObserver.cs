namespace Blkmq;

/// <summary>
/// Sees the end of the IOs of a <see cref="StackedDisk"/> that the stack times with the precise clock (a latency
/// histogram): one IO in <see cref="LatencySampleInterval"/> per request slot, called by the thread that accounts the
/// request below, as part of that accounting (before the submitter learns the status). What every IO adds up to
/// (counts, bytes, errors) the disk's own statistics already hold (<see cref="Disk.GetStatistics"/>): an observer
/// that counted them again would double the per-IO cost of a statistics filter.
/// </summary>
/// <remarks>
/// Calls for one <see cref="RequestEnd.Slot"/> never overlap, and one call happens before the next call for the same
/// slot: per-slot state needs no atomics (the way the block layer keeps its own statistics). Calls for different slots
/// run concurrently. The observer must not block and must not submit IO. No call runs once the stacked disk's
/// <see cref="Disk.RemoveAsync"/> has completed.
/// </remarks>
public interface IRequestEndObserver
{
    /// <summary>Gets how often an IO is timed (and observed): 1 every IO, N one IO in N per request slot (a power of two); 0 never. With several observers in one stack, IOs are timed at the shortest interval among them.</summary>
    int LatencySampleInterval { get; }

    /// <summary>Receives one ended, timed IO.</summary>
    /// <param name="end">What ended, how, and how long it took.</param>
    void OnRequestEnded(in RequestEnd end);
}
