using System.Buffers;

namespace Blkmq.Ublk;

/// <summary>
/// Presents a block of native memory that never moves (the per-tag IO buffers the kernel copies into and out of) as
/// <see cref="Memory{T}"/>, so that Blkmq requests can carry it. The memory belongs to whoever allocated it; this
/// manager neither frees nor pins it.
/// </summary>
internal sealed unsafe class NativeBufferMemoryManager : MemoryManager<byte>
{
    private readonly byte* _pointer;
    private readonly int _length;

    /// <summary>Initializes a new instance of the <see cref="NativeBufferMemoryManager"/> class.</summary>
    /// <param name="pointer">The memory; valid for as long as the manager's memory is used.</param>
    /// <param name="length">Its length in bytes.</param>
    public NativeBufferMemoryManager(byte* pointer, int length)
    {
        _pointer = pointer;
        _length = length;
    }

    /// <inheritdoc/>
    public override Span<byte> GetSpan() => new(_pointer, _length);

    /// <inheritdoc/>
    public override MemoryHandle Pin(int elementIndex = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(elementIndex);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(elementIndex, _length);
        return new MemoryHandle(_pointer + elementIndex);
    }

    /// <inheritdoc/>
    public override void Unpin()
    {
        // Native memory never moves: nothing to undo.
    }

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        // The owner frees the memory.
    }
}
