namespace Blkmq;

/// <summary>
/// Receives the status of requests submitted with a completion target instead of an awaiter (batches, split IO,
/// protocol front ends). Called exactly once per request, on whatever thread ended it, after the request's data
/// has been transferred and the request's tag was freed.
/// </summary>
internal interface IRequestCompletion
{
    void OnRequestCompleted(long cookie, BlockStatus status);
}
