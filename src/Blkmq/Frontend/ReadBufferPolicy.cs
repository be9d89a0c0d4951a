namespace Blkmq.Frontend;

/// <summary>
/// What a front end does to a buffer before a read fills it. Front ends reuse their buffers (pooled payload buffers,
/// a worker's reply buffer), so they hold earlier replies' data, perhaps another export's or another client's; a
/// disk that leaves read buffers untouched (<see cref="Disk.ReadsFillBuffers"/> false, as null_blk without memory
/// backing) would hand that data out. Every front end calls <see cref="Prepare"/> on every read buffer it reuses.
/// </summary>
public static class ReadBufferPolicy
{
    /// <summary>Clears <paramref name="buffer"/> unless <paramref name="disk"/>'s reads write every byte of it.</summary>
    /// <param name="disk">The disk the read goes to.</param>
    /// <param name="buffer">The buffer the read fills, about to be handed to the disk.</param>
    public static void Prepare(Disk disk, Span<byte> buffer)
    {
        ArgumentNullException.ThrowIfNull(disk);
        if (!disk.ReadsFillBuffers)
        {
            buffer.Clear();
        }
    }
}
