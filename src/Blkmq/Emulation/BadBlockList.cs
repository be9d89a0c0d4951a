using System.Globalization;
using System.Text;

namespace Blkmq.Emulation;

/// <summary>
/// Bad sectors (Linux <c>struct badblocks</c>, null_blk's <c>badblocks</c> configfs attribute, the <c>error</c>
/// filter's <c>sectors</c>): an IO that touches one fails. Changed at runtime, from any thread; an IO path sees a
/// change from its next lookup on, without a lock. The null driver and the filters share this one list.
/// </summary>
/// <remarks>
/// Ranges are kept sorted and merged. Sectors are 512-byte units whatever the block size, as in null_blk.
/// </remarks>
public class BadBlockList
{
    private readonly Lock _lock = new();
    private readonly List<BadBlockRange> _ranges = [];
    private readonly Action? _changed;

    // Copy-on-write snapshot of _ranges for the IO path: a request reads it without a lock.
    private BadBlockRange[] _snapshot = [];

    /// <summary>Initializes an empty list.</summary>
    public BadBlockList()
    {
    }

    /// <summary>Initializes an empty list that calls <paramref name="changed"/> after every change.</summary>
    /// <param name="changed">Called with the new ranges published (under the list's lock).</param>
    protected BadBlockList(Action changed)
    {
        _changed = changed;
    }

    /// <summary>Gets whether no sector is bad.</summary>
    public bool IsEmpty => Volatile.Read(ref _snapshot).Length == 0;

    /// <summary>Gets the bad ranges, sorted and merged (a snapshot).</summary>
    public IReadOnlyList<BadBlockRange> Ranges => Volatile.Read(ref _snapshot);

    /// <summary>Marks <paramref name="count"/> sectors from <paramref name="sector"/> bad (<c>echo "+start-end" &gt; badblocks</c>).</summary>
    /// <param name="sector">The first sector.</param>
    /// <param name="count">How many sectors; at least 1.</param>
    public void Add(long sector, long count)
    {
        CheckRange(sector, count);
        lock (_lock)
        {
            long start = sector;
            long end = sector + count;

            // Swallow every range that overlaps or touches [start, end), then insert the union in order.
            int index = 0;
            while (index < _ranges.Count && _ranges[index].End < start)
            {
                index++;
            }

            while (index < _ranges.Count && _ranges[index].Sector <= end)
            {
                start = Math.Min(start, _ranges[index].Sector);
                end = Math.Max(end, _ranges[index].End);
                _ranges.RemoveAt(index);
            }

            _ranges.Insert(index, new BadBlockRange(start, end - start));
            Publish();
        }
    }

    /// <summary>Makes <paramref name="count"/> sectors from <paramref name="sector"/> good again (<c>echo "-start-end" &gt; badblocks</c>).</summary>
    /// <param name="sector">The first sector.</param>
    /// <param name="count">How many sectors; at least 1.</param>
    /// <returns>Whether any of them was bad.</returns>
    public bool Remove(long sector, long count)
    {
        CheckRange(sector, count);
        lock (_lock)
        {
            return RemoveLocked(sector, sector + count);
        }
    }

    /// <summary>Makes every sector good.</summary>
    public void Clear()
    {
        lock (_lock)
        {
            _ranges.Clear();
            Publish();
        }
    }

    /// <summary>Gets whether a sector is bad.</summary>
    /// <param name="sector">The sector.</param>
    /// <returns>Whether an IO touching it fails.</returns>
    public bool Contains(long sector) => Check(sector, 1, out _, out _);

    /// <summary>
    /// Applies a command in null_blk's configfs format: <c>+start-end</c> marks the sectors bad, <c>-start-end</c>
    /// makes them good (both ends included).
    /// </summary>
    /// <param name="command">For example <c>+8-15</c>.</param>
    /// <exception cref="FormatException">Not in that format.</exception>
    public void Apply(string command)
    {
        ArgumentNullException.ThrowIfNull(command);
        string text = command.Trim();
        int dash = text.Length > 1 ? text.IndexOf('-', 1) : -1;
        if (text.Length < 4 || text[0] is not ('+' or '-') || dash < 0
            || !long.TryParse(text.AsSpan(1, dash - 1), NumberStyles.None, CultureInfo.InvariantCulture, out long first)
            || !long.TryParse(text.AsSpan(dash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out long last)
            || last < first)
        {
            throw new FormatException($"'{command}' is not a bad block command: +start-end or -start-end (sectors, start <= end).");
        }

        if (text[0] == '+')
        {
            Add(first, last - first + 1);
        }
        else
        {
            Remove(first, last - first + 1);
        }
    }

    /// <summary>Lists the bad ranges as null_blk shows them: one <c>start length</c> line per range.</summary>
    /// <returns>The list.</returns>
    public override string ToString()
    {
        var text = new StringBuilder();
        foreach (BadBlockRange range in Ranges)
        {
            text.Append(CultureInfo.InvariantCulture, $"{range.Sector} {range.Count}\n");
        }

        return text.ToString();
    }

    /// <summary>
    /// Finds the first bad range that overlaps <paramref name="count"/> sectors from <paramref name="sector"/>
    /// (<c>badblocks_check</c>).
    /// </summary>
    /// <param name="sector">The IO's first sector.</param>
    /// <param name="count">The IO's sectors.</param>
    /// <param name="firstBad">The first sector of the bad range found.</param>
    /// <param name="badCount">The sectors in that range.</param>
    /// <returns>Whether the IO touches a bad sector.</returns>
    public bool Check(long sector, long count, out long firstBad, out long badCount)
    {
        // Binary search for the first range that ends after sector; it overlaps when it starts before the end.
        BadBlockRange[] ranges = Volatile.Read(ref _snapshot);
        int low = 0;
        int high = ranges.Length;
        while (low < high)
        {
            int middle = (low + high) >>> 1;
            if (ranges[middle].End <= sector)
            {
                low = middle + 1;
            }
            else
            {
                high = middle;
            }
        }

        if (low < ranges.Length && ranges[low].Sector < sector + count)
        {
            firstBad = ranges[low].Sector;
            badCount = ranges[low].Count;
            return true;
        }

        firstBad = 0;
        badCount = 0;
        return false;
    }

    private static void CheckRange(long sector, long count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sector);
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, long.MaxValue - sector);
    }

    private bool RemoveLocked(long start, long end)
    {
        bool removed = false;
        for (int i = 0; i < _ranges.Count; i++)
        {
            BadBlockRange range = _ranges[i];
            if (range.End <= start || range.Sector >= end)
            {
                continue;
            }

            removed = true;
            _ranges.RemoveAt(i);
            if (range.End > end)
            {
                _ranges.Insert(i, new BadBlockRange(end, range.End - end));
            }

            if (range.Sector < start)
            {
                _ranges.Insert(i, new BadBlockRange(range.Sector, start - range.Sector));
                i++;
            }

            i--;
        }

        if (removed)
        {
            Publish();
        }

        return removed;
    }

    /// <summary>
    /// Parses a list of ranges as a spec gives them: <c>start-end</c> (inclusive sectors, the <c>+</c> of the
    /// configfs command optional, a lone number one sector), separated by any of <paramref name="separators"/>.
    /// </summary>
    /// <param name="text">For example <c>0-7;64-71</c>.</param>
    /// <param name="separators">What separates ranges (a spec whose parameters are split on ',' cannot use it).</param>
    /// <returns>The ranges, in the order given.</returns>
    /// <exception cref="FormatException">A range that is not <c>start-end</c> with <c>0 &lt;= start &lt;= end</c>.</exception>
    public static BadBlockRange[] ParseRanges(string text, params char[] separators)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ranges = new List<BadBlockRange>();
        foreach (string item in text.Split(separators, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string range = item.TrimStart('+');
            int dash = range.IndexOf('-', StringComparison.Ordinal);
            if (!long.TryParse(dash < 0 ? range : range[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out long first)
                || !long.TryParse(dash < 0 ? range : range[(dash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out long last)
                || last < first || last == long.MaxValue)
            {
                throw new FormatException($"'{item}' is not a sector range start-end with start <= end.");
            }

            ranges.Add(new BadBlockRange(first, last - first + 1));
        }

        return [.. ranges];
    }

    private void Publish()
    {
        Volatile.Write(ref _snapshot, [.. _ranges]);
        _changed?.Invoke();
    }
}
