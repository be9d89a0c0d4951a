namespace Blkmq;

/// <summary>
/// Sees the end of every IO of a <see cref="StackedDisk"/> (a statistics filter): called once per IO, by the thread
/// that accounts the request below, as part of that accounting (before the submitter learns the status).
/// </summary>
/// <remarks>
/// Calls for one <see cref="RequestEnd.Slot"/> never overlap, and one call happens before the next call for the same
/// slot: per-slot state needs no atomics (the way the block layer keeps its own statistics). Calls for different slots
/// run concurrently. The observer must not block and must not submit IO. No call runs once the stacked disk's
/// <see cref="Disk.RemoveAsync"/> has completed.
/// </remarks>
public interface IRequestEndObserver
{
    /// <summary>Gets how often the IO is timed with the precise clock: 0 never, 1 every IO, N one IO in N per request slot (a power of two).</summary>
    int LatencySampleInterval { get; }

    /// <summary>Receives one ended IO.</summary>
    /// <param name="end">What ended, how, and (for a timed IO) how long it took.</param>
    void OnRequestEnded(in RequestEnd end);
}
