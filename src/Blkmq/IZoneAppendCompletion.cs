namespace Blkmq;

/// <summary>
/// A completion target that also receives where a zone append wrote its data: the driver reports it through
/// <see cref="Request{TData}.SetResultSector(long)"/> before it ends the request, so the target has it by the time
/// <see cref="IRequestCompletion.OnRequestCompleted"/> runs, whichever way the request ends.
/// </summary>
internal interface IZoneAppendCompletion : IRequestCompletion
{
    /// <summary>Records the first sector the append wrote. Ignored when <paramref name="cookie"/> is not the current IO's.</summary>
    void OnResultSector(long cookie, long sector);
}
