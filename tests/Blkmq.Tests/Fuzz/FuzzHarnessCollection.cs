namespace Blkmq.Tests.Fuzz;

/// <summary>
/// The tests that run fuzzing harnesses: one at a time, as afl-fuzz runs them (the NBD harnesses share one server
/// and check after each input that it holds no connection and no IO, which a concurrent input would break).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FuzzHarnessCollection
{
    public const string Name = "Fuzz harnesses";
}
