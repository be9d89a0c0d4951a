namespace Blkmq.Filters;

/// <summary>
/// The per-request data of a filter disk: the slot's <see cref="FilterIo"/>, made once per tag. A struct around the
/// reference so the block layer's generic code is not shared over <c>__Canon</c> (see <see cref="FilterQueue"/>).
/// </summary>
internal readonly struct FilterRequestData
{
    public FilterRequestData(FilterIo io)
    {
        Io = io;
    }

    /// <summary>Gets the slot's IO state.</summary>
    public FilterIo Io { get; }
}
