namespace Blkmq.Ublk;

/// <summary>A ublk control command failed: the message names the command, the device and the errno.</summary>
public sealed class UblkException : IOException
{
    /// <summary>Initializes a new instance of the <see cref="UblkException"/> class.</summary>
    public UblkException()
    {
    }

    /// <summary>Initializes a new instance of the <see cref="UblkException"/> class.</summary>
    /// <param name="message">The message.</param>
    public UblkException(string message)
        : base(message)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="UblkException"/> class.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public UblkException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Initializes a new instance of the <see cref="UblkException"/> class.</summary>
    /// <param name="message">The message.</param>
    /// <param name="errno">The positive errno the kernel returned.</param>
    public UblkException(string message, int errno)
        : base(message)
    {
        Errno = errno;
    }

    /// <summary>Gets the positive errno the kernel returned; 0 when none.</summary>
    public int Errno { get; }
}
