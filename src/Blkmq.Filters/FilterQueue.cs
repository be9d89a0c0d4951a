namespace Blkmq.Filters;

/// <summary>A filter disk's hardware-queue data: none (a class, as a driver with concurrent <c>QueueRq</c> needs).</summary>
internal sealed class FilterQueue
{
    private FilterQueue()
    {
    }

    /// <summary>Gets the one instance every queue shares.</summary>
    public static FilterQueue Instance { get; } = new();
}
