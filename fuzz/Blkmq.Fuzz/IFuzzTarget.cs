namespace Blkmq.Fuzz;

/// <summary>
/// One fuzzing harness: feeds an input through the same code the server runs on bytes from outside. A bug (a crash,
/// a hang, a leak, an exception the code should not let out) is thrown as an exception; bad input answered with an
/// error is no bug.
/// </summary>
internal interface IFuzzTarget
{
    /// <summary>Gets the name the harness is picked by, also its corpus folder's (<c>fuzz/corpus/NAME</c>).</summary>
    string Name { get; }

    /// <summary>Runs one input. May be called many times in one process (afl-fuzz's persistent mode), never concurrently.</summary>
    /// <param name="input">The input; not kept after the call.</param>
    /// <exception cref="FuzzFindingException">The input found a bug.</exception>
    void Run(ReadOnlySpan<byte> input);
}
