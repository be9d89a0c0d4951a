namespace Blkmq.Drivers.Null;

/// <summary>The null driver's per-disk data (null_blk's <c>struct nullb_device</c>): its parameters and memory.</summary>
public sealed class NullDevice : IAllocationSource
{
    internal NullDevice(NullBlockOptions options, int index)
    {
        Options = options;
        Index = index;
        Store = options.MemoryBacked ? new MemoryStore(options.Size) : null;
        CompletionTicks = options.CompletionNsec * System.Diagnostics.Stopwatch.Frequency / 1_000_000_000;
    }

    /// <summary>Gets the parameters.</summary>
    public NullBlockOptions Options { get; }

    /// <summary>Gets the disk's index among the instance's devices.</summary>
    public int Index { get; }

    /// <summary>Gets how many bytes of backing memory are allocated (0 when not memory backed).</summary>
    public long AllocatedBytes => Store?.AllocatedBytes ?? 0;

    /// <summary>Gets whether the page that holds a byte offset is allocated (always false without memory backing).</summary>
    /// <param name="offset">A byte offset.</param>
    /// <returns>Whether data was written there and not discarded.</returns>
    public bool IsAllocated(long offset) => Store?.IsAllocated(offset) ?? false;

    /// <inheritdoc/>
    /// <remarks>Without memory backing every range is reported allocated (reads leave buffers untouched).</remarks>
    public bool GetExtent(long offset, long maxLength, out long length)
    {
        if (Store is null)
        {
            length = maxLength;
            return true;
        }

        return Store.GetExtent(offset, maxLength, out length);
    }

    internal MemoryStore? Store { get; }

    internal long CompletionTicks { get; }
}
