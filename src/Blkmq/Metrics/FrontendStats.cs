namespace Blkmq.Metrics;

/// <summary>A snapshot of one front end's counters (<see cref="FrontendCounters.GetStatistics"/>).</summary>
public sealed record FrontendStats
{
    /// <summary>Gets the front end's name (<c>nbd</c>, <c>fuse</c>): the <c>frontend</c> tag.</summary>
    public required string Frontend { get; init; }

    /// <summary>Gets the connections open now (NBD clients; 1 for a mounted FUSE export).</summary>
    public long OpenConnections { get; init; }

    /// <summary>Gets the connections opened since the front end started.</summary>
    public long ConnectionsOpened { get; init; }

    /// <summary>Gets the requests received per kind, indexed by <see cref="FrontendRequestKind"/>.</summary>
    public required IReadOnlyList<long> Requests { get; init; }

    /// <summary>Gets the bytes clients asked to read.</summary>
    public long BytesRead { get; init; }

    /// <summary>Gets the bytes clients sent to be written.</summary>
    public long BytesWritten { get; init; }

    /// <summary>Gets the requests of one kind.</summary>
    /// <param name="kind">The kind.</param>
    /// <returns>The count.</returns>
    public long RequestsOf(FrontendRequestKind kind) => Requests[(int)kind];
}
