namespace Blkmq.Fuzz;

/// <summary>A bug a harness found: a hang, a leak, or an exception the code under test caught but should never see.</summary>
internal sealed class FuzzFindingException : Exception
{
    public FuzzFindingException()
    {
    }

    public FuzzFindingException(string message)
        : base(message)
    {
    }

    public FuzzFindingException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
