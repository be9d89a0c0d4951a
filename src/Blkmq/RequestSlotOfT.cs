namespace Blkmq;

/// <summary>A request slot with the driver's typed per-request data (created once per slot by <c>InitRequest</c>).</summary>
/// <typeparam name="TData">The driver's per-request data.</typeparam>
internal sealed class RequestSlot<TData> : RequestSlot
{
    // A field, not a property: drivers get it by reference, so a struct is updated in place.
    internal TData _data;

    public RequestSlot(TagBitmap tags, int hwQueueIndex, int tag, int index, int maxSegments, TData data)
        : base(tags, hwQueueIndex, tag, index, maxSegments)
    {
        _data = data;
    }
}
