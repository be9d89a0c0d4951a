namespace Blkmq.Cli;

/// <summary>Options that parse but do not make sense together; <c>blkmq bench</c> prints the message and exits with 2.</summary>
internal sealed class BenchUsageException : Exception
{
    public BenchUsageException()
    {
    }

    public BenchUsageException(string message)
        : base(message)
    {
    }

    public BenchUsageException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
