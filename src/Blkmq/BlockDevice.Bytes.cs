using System.Buffers;
using System.Runtime.CompilerServices;

namespace Blkmq;

/// <content>
/// Byte-granular access for front ends whose clients are not block-aligned (a file export, the stream adapter):
/// aligned IO goes straight through; a partial first or last block is read, patched and written back while the
/// blocks it touches are held exclusive in the disk's range lock, which every write of whole blocks holds shared.
/// </content>
public sealed partial class BlockDevice
{
    /// <summary>Reads <paramref name="buffer"/>.Length bytes at any byte <paramref name="position"/>.</summary>
    /// <param name="position">The byte offset; the range must lie inside the device.</param>
    /// <param name="buffer">Where the data goes. Owned by the IO until it completes.</param>
    /// <param name="cancellationToken">Cancels a wait for a range held by a read-modify-write.</param>
    /// <returns>A task that completes when the data is in <paramref name="buffer"/>.</returns>
    /// <exception cref="ArgumentException">The range is negative or beyond the end.</exception>
    public ValueTask ReadBytesAsync(long position, Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ValidateBytes(position, buffer.Length);
        if (((position | (long)buffer.Length) & _blockMask) == 0)
        {
            return buffer.IsEmpty ? default : ReadAsync(position, buffer);
        }

        return ReadPartialAsync(position, buffer, cancellationToken);
    }

    /// <summary>Writes <paramref name="data"/> at any byte <paramref name="position"/>.</summary>
    /// <param name="position">The byte offset; the range must lie inside the device.</param>
    /// <param name="data">The data. Must not change until the IO completes.</param>
    /// <param name="cancellationToken">Cancels a wait for a range another write holds.</param>
    /// <returns>A task that completes when the device has the data.</returns>
    /// <exception cref="ArgumentException">The range is negative or beyond the end.</exception>
    /// <remarks>
    /// Whole blocks are an ordinary <see cref="WriteAsync"/>. Partial ones are read, patched and written back with the
    /// blocks held exclusive: a write of those blocks that landed between the read and the write back would be undone.
    /// </remarks>
    public ValueTask WriteBytesAsync(long position, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        ValidateBytes(position, data.Length);
        if (((position | (long)data.Length) & _blockMask) == 0)
        {
            return data.IsEmpty ? default : WriteAsync(position, data);
        }

        return WriteLockedAsync(position, data, cancellationToken);
    }

    /// <summary>Makes any byte range read as zeroes: whole blocks with write-zeroes, partial ones patched.</summary>
    /// <param name="position">The byte offset; the range must lie inside the device.</param>
    /// <param name="length">The length in bytes.</param>
    /// <param name="mayUnmap">Whether whole blocks may be deallocated instead of written.</param>
    /// <param name="cancellationToken">Cancels a wait for a range another write holds.</param>
    /// <returns>A task that completes when the range reads as zeroes.</returns>
    /// <exception cref="ArgumentException">The range is negative or beyond the end.</exception>
    public ValueTask ZeroBytesAsync(long position, long length, bool mayUnmap, CancellationToken cancellationToken = default)
    {
        ValidateBytes(position, length);
        return length == 0 ? default : ZeroLockedAsync(position, length, mayUnmap, cancellationToken);
    }

    /// <summary>Reads any byte range (see <see cref="ReadBytesAsync"/>), returning a failure as a status.</summary>
    /// <param name="position">The byte offset.</param>
    /// <param name="buffer">Where the data goes. Owned by the IO until it completes.</param>
    /// <param name="cancellationToken">Cancels a wait for a range held by a read-modify-write (that throws <see cref="OperationCanceledException"/>).</param>
    /// <returns>The status; <see cref="BlockStatus.Invalid"/> for a range not inside the device. Never throws for a failed IO.</returns>
    public ValueTask<BlockStatus> ReadBytesStatusAsync(long position, Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (!IsInside(position, buffer.Length))
        {
            return new ValueTask<BlockStatus>(BlockStatus.Invalid);
        }

        if (((position | (long)buffer.Length) & _blockMask) == 0)
        {
            return ReadStatusAsync(position, buffer);
        }

        return StatusOf(ReadPartialAsync(position, buffer, cancellationToken));
    }

    /// <summary>Writes any byte range (see <see cref="WriteBytesAsync"/>), returning a failure as a status.</summary>
    /// <param name="position">The byte offset.</param>
    /// <param name="data">The data. Must not change until the IO completes.</param>
    /// <param name="cancellationToken">Cancels a wait for a range another write holds (that throws <see cref="OperationCanceledException"/>).</param>
    /// <returns>The status; <see cref="BlockStatus.Invalid"/> for a range not inside the device. Never throws for a failed IO.</returns>
    public ValueTask<BlockStatus> WriteBytesStatusAsync(long position, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        if (!IsInside(position, data.Length))
        {
            return new ValueTask<BlockStatus>(BlockStatus.Invalid);
        }

        if (((position | (long)data.Length) & _blockMask) == 0)
        {
            return WriteStatusAsync(position, data);
        }

        return StatusOf(WriteLockedAsync(position, data, cancellationToken));
    }

    /// <summary>Zeroes any byte range (see <see cref="ZeroBytesAsync"/>), returning a failure as a status.</summary>
    /// <param name="position">The byte offset.</param>
    /// <param name="length">The length in bytes.</param>
    /// <param name="mayUnmap">Whether whole blocks may be deallocated instead of written.</param>
    /// <param name="cancellationToken">Cancels a wait for a range another write holds (that throws <see cref="OperationCanceledException"/>).</param>
    /// <returns>The status; <see cref="BlockStatus.Invalid"/> for a range not inside the device. Never throws for a failed IO.</returns>
    public ValueTask<BlockStatus> ZeroBytesStatusAsync(long position, long length, bool mayUnmap, CancellationToken cancellationToken = default)
    {
        if (!IsInside(position, length))
        {
            return new ValueTask<BlockStatus>(BlockStatus.Invalid);
        }

        if (((position | length) & _blockMask) == 0)
        {
            return WriteZeroesStatusAsync(position, length, mayUnmap);
        }

        return length == 0 ? new ValueTask<BlockStatus>(BlockStatus.Ok) : StatusOf(ZeroLockedAsync(position, length, mayUnmap, cancellationToken));
    }

    private bool IsInside(long position, long length) => position >= 0 && length >= 0 && position <= Size - length;

    private void ValidateBytes(long position, long length)
    {
        if (length < 0)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(length), length, "The length must not be negative.");
        }

        if (!IsInside(position, length))
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(position), position, $"The range [{position}, {position + length}) is not inside the device ({Size} bytes).");
        }
    }

    /// <summary>The status of a byte-granular IO with partial blocks (a slow path: it awaits a state machine anyway).</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<BlockStatus> StatusOf(ValueTask io)
    {
        try
        {
            await io.ConfigureAwait(false);
            return BlockStatus.Ok;
        }
        catch (BlockIOException e)
        {
            return e.Status;
        }
    }

    private long RoundDown(long value) => value & ~(long)_blockMask;

    private long RoundUp(long value) => (value + _blockMask) & ~(long)_blockMask;

    private async ValueTask ReadPartialAsync(long position, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        long start = RoundDown(position);
        long end = RoundUp(position + buffer.Length);
        int length = checked((int)(end - start));
        byte[] bounce = ArrayPool<byte>.Shared.Rent(length);
        try
        {
            // A pooled buffer holds some earlier IO's data; a disk that leaves read buffers untouched must not hand it out.
            if (!_disk.ReadsFillBuffers)
            {
                bounce.AsSpan(0, length).Clear();
            }

            // Shared: a read never sees a read-modify-write half done, and waits for no other read or write.
            using (await _disk.StreamLock.AcquireSharedAsync(start, end, cancellationToken).ConfigureAwait(false))
            {
                await ReadAsync(start, bounce.AsMemory(0, length)).ConfigureAwait(false);
            }

            bounce.AsMemory((int)(position - start), buffer.Length).CopyTo(buffer);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(bounce);
        }
    }

    private async ValueTask WriteLockedAsync(long position, ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        long start = RoundDown(position);
        long end = RoundUp(position + data.Length);
        if (_disk.IsReadOnly)
        {
            throw BlockIOException.Create(BlockStatus.ReadOnly, RequestOp.Write, start, end - start);
        }

        using (await _disk.StreamLock.AcquireAsync(start, end, cancellationToken).ConfigureAwait(false))
        {
            int length = checked((int)(end - start));
            byte[] bounce = ArrayPool<byte>.Shared.Rent(length);
            try
            {
                // Only the partial first and last blocks need their old contents. A disk that does not fill read
                // buffers reads as zeroes, not as the pooled buffer's last contents.
                if (!_disk.ReadsFillBuffers)
                {
                    bounce.AsSpan(0, length).Clear();
                }

                await ReadAsync(start, bounce.AsMemory(0, LogicalBlockSize)).ConfigureAwait(false);
                if (end - LogicalBlockSize > start)
                {
                    await ReadAsync(end - LogicalBlockSize, bounce.AsMemory(length - LogicalBlockSize, LogicalBlockSize)).ConfigureAwait(false);
                }

                cancellationToken.ThrowIfCancellationRequested();
                data.CopyTo(bounce.AsMemory((int)(position - start)));

                // Not WriteAsync: this write's range is held exclusive already, and a shared hold would wait for it.
                await SubmitUnheld(RequestOp.Write, RequestFlags.None, start, length, bounce.AsMemory(0, length)).AsTask(RequestOp.Write, start, length).ConfigureAwait(false);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(bounce);
            }
        }
    }

    private async ValueTask ZeroLockedAsync(long position, long length, bool mayUnmap, CancellationToken cancellationToken)
    {
        long end = position + length;
        long innerStart = RoundUp(position);
        long innerEnd = RoundDown(end);
        if (innerStart >= innerEnd)
        {
            // Inside one or two partial blocks: a small patch.
            await WriteLockedAsync(position, new byte[length], cancellationToken).ConfigureAwait(false);
            return;
        }

        if (innerStart > position)
        {
            await WriteLockedAsync(position, new byte[innerStart - position], cancellationToken).ConfigureAwait(false);
        }

        // Whole blocks: write-zeroes holds them shared, as every aligned write does.
        await WriteZeroesAsync(innerStart, innerEnd - innerStart, mayUnmap).ConfigureAwait(false);
        if (end > innerEnd)
        {
            await WriteLockedAsync(innerEnd, new byte[end - innerEnd], cancellationToken).ConfigureAwait(false);
        }
    }
}
