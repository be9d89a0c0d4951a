namespace Blkmq.Tests.Shared;

/// <summary>
/// Proves a steady-state IO path allocates nothing, from rounds measured with
/// <see cref="GC.GetAllocatedBytesForCurrentThread"/>: some round allocates nothing at all. One round may catch a
/// one-off runtime event (a method tiering up), and a round during which a collection ran (other tests allocate in
/// parallel) is charged a few hundred bytes on every thread the collection touches, so those rounds do not count; a
/// per-IO allocation shows in every round.
/// </summary>
internal sealed class AllocationRounds
{
    private long _best = long.MaxValue;
    private long _bestDuringCollection = long.MaxValue;

    /// <summary>Gets whether a round without a collection allocated nothing: more rounds cannot change the verdict.</summary>
    public bool Proven => _best == 0;

    /// <summary>Runs <paramref name="round"/> until a round proves it allocates nothing, then asserts the verdict.</summary>
    /// <param name="round">One round of IO, on this thread.</param>
    /// <param name="iosPerRound">How many IOs a round does.</param>
    /// <param name="maxRounds">
    /// At most this many rounds; under a parallel suite another test's collections can hit a few dozen rounds in a row.
    /// </param>
    public static void AssertAllocatesNothing(Action round, int iosPerRound, int maxRounds = 200)
    {
        var rounds = new AllocationRounds();
        for (int i = 0; i < maxRounds && !rounds.Proven; i++)
        {
            rounds.Measure(round);
        }

        rounds.AssertNothingPerIo(iosPerRound);
    }

    /// <summary>Runs and measures one round on this thread.</summary>
    /// <param name="round">One round of IO.</param>
    public void Measure(Action round)
    {
        int collections = GC.CollectionCount(0);
        long before = GC.GetAllocatedBytesForCurrentThread();
        round();
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        if (GC.CollectionCount(0) == collections)
        {
            _best = Math.Min(_best, allocated);
        }
        else
        {
            _bestDuringCollection = Math.Min(_bestDuringCollection, allocated);
        }
    }

    /// <summary>
    /// Asserts that some round without a collection allocated nothing; when every round saw a collection, that the
    /// least of them allocated under one byte per IO (a collection charges a few hundred bytes, a per-IO allocation at
    /// least 24 bytes per IO).
    /// </summary>
    /// <param name="iosPerRound">How many IOs a round does.</param>
    public void AssertNothingPerIo(int iosPerRound)
    {
        if (_best == long.MaxValue)
        {
            Assert.True(_bestDuringCollection < iosPerRound, $"every round saw a collection; the least allocated {_bestDuringCollection} bytes in {iosPerRound} IOs");
            return;
        }

        Assert.True(_best == 0, $"every round without a collection allocated; the least allocated {_best} bytes in {iosPerRound} IOs");
    }
}
