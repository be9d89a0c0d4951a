using System.Buffers;

namespace Blkmq;

/// <summary>
/// A seekable <see cref="Stream"/> over a <see cref="BlockDevice"/> that accepts any offset and length, through the
/// device's byte-granular access (<see cref="BlockDevice.WriteBytesAsync"/>): aligned IO goes straight through; a
/// partial first or last block is read, patched and written back under the disk's range lock.
/// </summary>
internal sealed class BlockDeviceStream : Stream
{
    private readonly BlockDevice _device;
    private long _position;
    private bool _disposed;

    public BlockDeviceStream(BlockDevice device)
    {
        _device = device;
    }

    public override bool CanRead => !_disposed;

    public override bool CanSeek => !_disposed;

    public override bool CanWrite => !_disposed && !_device.Disk.IsReadOnly;

    public override long Length => _device.Size;

    public override long Position
    {
        get => _position;
        set
        {
            ArgumentOutOfRangeException.ThrowIfNegative(value);
            _position = value;
        }
    }

    public override long Seek(long offset, SeekOrigin origin)
    {
        long target = origin switch
        {
            SeekOrigin.Begin => offset,
            SeekOrigin.Current => _position + offset,
            SeekOrigin.End => Length + offset,
            _ => throw new ArgumentOutOfRangeException(nameof(origin), origin, "Unknown seek origin."),
        };

        if (target < 0)
        {
            throw new IOException("Cannot seek before the start of the device.");
        }

        _position = target;
        return target;
    }

    public override void SetLength(long value) => throw new NotSupportedException("A block device's length is fixed.");

    public override void Flush() => FlushAsync(CancellationToken.None).GetAwaiter().GetResult();

    public override Task FlushAsync(CancellationToken cancellationToken) => _device.FlushAsync().AsTask();

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        byte[] rented = ArrayPool<byte>.Shared.Rent(buffer.Length);
        try
        {
            int read = ReadAsync(rented.AsMemory(0, buffer.Length)).AsTask().GetAwaiter().GetResult();
            rented.AsSpan(0, read).CopyTo(buffer);
            return read;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        long position = _position;
        int count = (int)Math.Clamp(Length - position, 0, buffer.Length);
        if (count == 0)
        {
            return 0;
        }

        await _device.ReadBytesAsync(position, buffer[..count], cancellationToken).ConfigureAwait(false);
        _position = position + count;
        return count;
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        byte[] rented = ArrayPool<byte>.Shared.Rent(buffer.Length);
        try
        {
            buffer.CopyTo(rented);
            WriteAsync(rented.AsMemory(0, buffer.Length)).AsTask().GetAwaiter().GetResult();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        long position = _position;
        if (position > Length - buffer.Length)
        {
            throw new IOException($"Writing {buffer.Length} bytes at {position} would go past the end of the device ({Length} bytes).");
        }

        await _device.WriteBytesAsync(position, buffer, cancellationToken).ConfigureAwait(false);
        _position = position + buffer.Length;
    }

    protected override void Dispose(bool disposing)
    {
        _disposed = true;
        base.Dispose(disposing);
    }
}
