using System.Buffers;

namespace Blkmq;

/// <content>
/// Byte-granular access for front ends whose clients are not block-aligned (a file export, the stream adapter):
/// aligned IO goes straight through; a partial first or last block is read, patched and written back while the
/// blocks it touches are locked against every other byte-granular writer of the same disk.
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
    /// <param name="cancellationToken">Cancels a wait for a range another byte-granular write holds.</param>
    /// <returns>A task that completes when the device has the data.</returns>
    /// <exception cref="ArgumentException">The range is negative or beyond the end.</exception>
    /// <remarks>
    /// Aligned writes take the range lock too: one that overlapped a read-modify-write unlocked could land between its
    /// read and its write back, and be undone.
    /// </remarks>
    public ValueTask WriteBytesAsync(long position, ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        ValidateBytes(position, data.Length);
        return data.IsEmpty ? default : WriteLockedAsync(position, data, cancellationToken);
    }

    /// <summary>Makes any byte range read as zeroes: whole blocks with write-zeroes, partial ones patched.</summary>
    /// <param name="position">The byte offset; the range must lie inside the device.</param>
    /// <param name="length">The length in bytes.</param>
    /// <param name="mayUnmap">Whether whole blocks may be deallocated instead of written.</param>
    /// <param name="cancellationToken">Cancels a wait for a range another byte-granular write holds.</param>
    /// <returns>A task that completes when the range reads as zeroes.</returns>
    /// <exception cref="ArgumentException">The range is negative or beyond the end.</exception>
    public ValueTask ZeroBytesAsync(long position, long length, bool mayUnmap, CancellationToken cancellationToken = default)
    {
        ValidateBytes(position, length);
        return length == 0 ? default : ZeroLockedAsync(position, length, mayUnmap, cancellationToken);
    }

    private void ValidateBytes(long position, long length)
    {
        if (position < 0 || length < 0 || position > Size - length)
        {
            ThrowHelper.ThrowArgumentOutOfRange(nameof(position), position, $"The range [{position}, {position + length}) is not inside the device ({Size} bytes).");
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
            // Locked so that a read never sees a read-modify-write half done.
            using (await _disk.StreamLock.AcquireAsync(start, end, cancellationToken).ConfigureAwait(false))
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
        using (await _disk.StreamLock.AcquireAsync(start, end, cancellationToken).ConfigureAwait(false))
        {
            if (start == position && end == position + data.Length)
            {
                await WriteAsync(position, data).ConfigureAwait(false);
                return;
            }

            int length = checked((int)(end - start));
            byte[] bounce = ArrayPool<byte>.Shared.Rent(length);
            try
            {
                // Only the partial first and last blocks need their old contents.
                await ReadAsync(start, bounce.AsMemory(0, LogicalBlockSize)).ConfigureAwait(false);
                if (end - LogicalBlockSize > start)
                {
                    await ReadAsync(end - LogicalBlockSize, bounce.AsMemory(length - LogicalBlockSize, LogicalBlockSize)).ConfigureAwait(false);
                }

                cancellationToken.ThrowIfCancellationRequested();
                data.CopyTo(bounce.AsMemory((int)(position - start)));
                await WriteAsync(start, bounce.AsMemory(0, length)).ConfigureAwait(false);
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

        using (await _disk.StreamLock.AcquireAsync(innerStart, innerEnd, cancellationToken).ConfigureAwait(false))
        {
            await WriteZeroesAsync(innerStart, innerEnd - innerStart, mayUnmap).ConfigureAwait(false);
        }

        if (end > innerEnd)
        {
            await WriteLockedAsync(innerEnd, new byte[end - innerEnd], cancellationToken).ConfigureAwait(false);
        }
    }
}
