namespace Blkmq.Simulation.Tests.Infrastructure;

/// <summary>
/// What the disk may hold, per sector, from what the submitters were told: the oracle the simulator checks reads
/// and power cuts against. Writes to a sector never overlap in time (the workload keeps them apart), so the writes
/// to one sector form a sequence; a write is in one of three outcomes (in flight, acknowledged, failed: a failed or
/// timed-out write may have landed on any of its sectors).
/// </summary>
/// <remarks>
/// The promise checked at a power cut (Linux's): a write acknowledged before a flush was <em>submitted</em>, once
/// that flush is acknowledged, survives, as does a write acknowledged with FUA; anything later may or may not.
/// So per sector: the <c>durable</c> values (one, unless a failed write made it uncertain) and the writes since.
/// </remarks>
internal sealed class DiskModel
{
    private readonly Sector[] _sectors;
    private long _sequence;

    public DiskModel(int sectors)
    {
        _sectors = new Sector[sectors];
        for (int i = 0; i < sectors; i++)
        {
            _sectors[i] = new Sector();
        }
    }

    /// <summary>Gets the next point on the model's logical clock (every submission and every completion takes one).</summary>
    public long Tick() => ++_sequence;

    public bool WriteInFlight(long sector, int count)
    {
        for (int i = 0; i < count; i++)
        {
            if (_sectors[sector + i].InFlight is not null)
            {
                return true;
            }
        }

        return false;
    }

    public void BeginWrite(long value, long sector, int count, long sequence)
    {
        for (int i = 0; i < count; i++)
        {
            Sector s = _sectors[sector + i];
            var entry = new Entry(value, sequence);
            s.Since.Add(entry);
            s.Log.Add(value);
            s.InFlight = entry;
        }
    }

    public void EndWrite(long sector, int count, bool ok, bool fua, long sequence)
    {
        for (int i = 0; i < count; i++)
        {
            Sector s = _sectors[sector + i];
            Entry entry = s.InFlight!;
            entry.Done = true;
            entry.Ok = ok;
            entry.AckSequence = sequence;
            s.InFlight = null;
            if (ok && fua)
            {
                // Durable, and later than every other write of the sector, which all ended before it began.
                s.Durable = [entry.Value];
                s.Since.RemoveRange(0, s.Since.IndexOf(entry) + 1);
            }
        }
    }

    /// <summary>
    /// A flush submitted at <paramref name="flushSubmitted"/> to the disk of sectors [<paramref name="first"/>,
    /// +<paramref name="count"/>) was acknowledged: what was acknowledged there before it is durable.
    /// </summary>
    public void Flushed(long flushSubmitted, long first, int count)
    {
        foreach (Sector s in _sectors.AsSpan((int)first, count))
        {
            int last = s.Since.FindLastIndex(e => e.Ok && e.AckSequence < flushSubmitted);
            if (last >= 0)
            {
                s.Durable = [s.Since[last].Value];
                s.Since.RemoveRange(0, last + 1);
            }
        }
    }

    /// <summary>The values a read of <paramref name="sector"/> submitted now may return, and where its write log stands.</summary>
    public (long[] Values, int LogMark) ReadSnapshot(long sector)
    {
        Sector s = _sectors[sector];
        int lastOk = s.Since.FindLastIndex(e => e.Ok);
        IEnumerable<long> values = lastOk >= 0
            ? s.Since.Skip(lastOk).Select(e => e.Value)
            : s.Durable.Concat(s.Since.Select(e => e.Value));
        return (values.ToArray(), s.Log.Count);
    }

    /// <summary>Whether a read that started at <paramref name="snapshot"/> may have returned <paramref name="value"/>.</summary>
    public bool ReadAllows(long sector, (long[] Values, int LogMark) snapshot, long value)
    {
        if (snapshot.Values.Contains(value))
        {
            return true;
        }

        List<long> log = _sectors[sector].Log;
        for (int i = snapshot.LogMark; i < log.Count; i++)
        {
            if (log[i] == value)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The values a sector may hold after a power cut.</summary>
    public IEnumerable<long> CrashCandidates(long sector)
    {
        Sector s = _sectors[sector];
        return s.Durable.Concat(s.Since.Select(e => e.Value));
    }

    /// <summary>After a power cut and its check: the sector holds <paramref name="value"/>, durably.</summary>
    public void Rebase(long sector, long value)
    {
        Sector s = _sectors[sector];
        s.Durable = [value];
        s.Since.Clear();
        s.Log.Add(value);
    }

    private sealed class Sector
    {
        public List<long> Durable { get; set; } = [0];

        public List<Entry> Since { get; } = [];

        /// <summary>Every value ever written here, in submission order (reads that overlap writes look here).</summary>
        public List<long> Log { get; } = [];

        public Entry? InFlight { get; set; }
    }

    private sealed class Entry(long value, long submitSequence)
    {
        public long Value { get; } = value;

        public long SubmitSequence { get; } = submitSequence;

        public bool Done { get; set; }

        public bool Ok { get; set; }

        public long AckSequence { get; set; } = long.MaxValue;
    }
}
