namespace Blkmq;

/// <summary>An IO ended with a status other than <see cref="BlockStatus.Ok"/>.</summary>
public sealed class BlockIOException : IOException
{
    /// <summary>Initializes a new instance of the <see cref="BlockIOException"/> class.</summary>
    public BlockIOException()
        : this(BlockStatus.IoError, "Block IO failed.")
    {
    }

    /// <summary>Initializes a new instance of the <see cref="BlockIOException"/> class.</summary>
    /// <param name="message">The message.</param>
    public BlockIOException(string message)
        : this(BlockStatus.IoError, message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="BlockIOException"/> class.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public BlockIOException(string message, Exception innerException)
        : base(message, innerException)
    {
        Status = BlockStatus.IoError;
    }

    /// <summary>Initializes a new instance of the <see cref="BlockIOException"/> class.</summary>
    /// <param name="status">The request's status.</param>
    /// <param name="message">The message.</param>
    public BlockIOException(BlockStatus status, string message)
        : base(message)
    {
        Status = status;
    }

    /// <summary>Gets the status the IO ended with.</summary>
    public BlockStatus Status { get; }

    internal static BlockIOException Create(BlockStatus status, RequestOp op, long offset, long length) =>
        new(status, $"{op} of {length} bytes at offset {offset} failed: {Describe(status)}.");

    internal static string Describe(BlockStatus status) => status switch
    {
        BlockStatus.NotSupported => "operation not supported by the device",
        BlockStatus.Timeout => "the request timed out",
        BlockStatus.NoSpace => "no space left on the device",
        BlockStatus.IoError => "I/O error",
        BlockStatus.Invalid => "invalid request",
        BlockStatus.Offline => "the disk was removed",
        BlockStatus.ReadOnly => "the disk is read-only",
        BlockStatus.ZoneError => "zoned device rule violated",
        _ => status.ToString(),
    };
}
