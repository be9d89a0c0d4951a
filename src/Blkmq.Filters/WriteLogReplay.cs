namespace Blkmq.Filters;

/// <summary>
/// Rebuilds a disk from a write log as it was at a point (<c>blkmq replay</c>, dm-log-writes' replay-log): every entry
/// up to and including the target is applied, in log order, to a zeroed image of the logged disk's size. The broken
/// mode drops every other write of the last eight runs of writes that flush points before the target made durable,
/// and keeps the writes after the last flush point: a device whose cache loses acknowledged writes. A
/// crash-consistency checker must catch that.
/// <para>
/// A crash state (<c>--crash SEED</c>) is one of the disks a power cut right after the target may leave: what the
/// target made durable, plus any subset of the writes that completed after it but before the next flush point (a
/// volatile cache keeps or loses each; the next flush point's own FUA write too), chosen from the seed, each with
/// probability one half, applied in log order. A file system or database that is correct on a disk that honours
/// flushes must survive every such state (CrashMonkey's and dm-log-writes' exploration, one random sample per seed).
/// </para>
/// </summary>
internal static class WriteLogReplay
{
    /// <summary>How many runs of acknowledged writes the broken mode loses half of.</summary>
    public const int BrokenIntervals = 8;

    /// <summary>Finds the index of the entry a target names.</summary>
    /// <param name="entries">The log's entries.</param>
    /// <param name="mark">A mark's name, or <see langword="null"/>.</param>
    /// <param name="flush">The 1-based number of a flush point (flush or FUA write), or 0.</param>
    /// <returns>The index of the last entry to apply; -1 for an empty log with no target.</returns>
    /// <exception cref="FormatException">The mark or flush point is not in the log, or several marks have the name; one line.</exception>
    public static int FindTarget(List<WriteLogEntry> entries, string? mark, int flush)
    {
        if (mark is not null)
        {
            List<int> matches = [.. Enumerable.Range(0, entries.Count).Where(i => entries[i].Kind == WriteLogKind.Mark && string.Equals(entries[i].MarkName, mark, StringComparison.Ordinal))];
            return matches switch
            {
                [int index] => index,
                [] => throw new FormatException($"--to {mark}: no such mark in the log ({string.Join(", ", entries.Where(static e => e.Kind == WriteLogKind.Mark).Select(static e => e.MarkName))})."),

                // A log from before marks were unique: which one is meant is not for replay to guess.
                _ => throw new FormatException($"--to {mark}: ambiguous, the log has {matches.Count} marks of that name (entries {string.Join(", ", matches.Select(i => entries[i].Sequence))}); replay to one with --to-flush N (see --list)."),
            };
        }

        if (flush > 0)
        {
            int seen = 0;
            for (int i = 0; i < entries.Count; i++)
            {
                if (entries[i].IsFlushPoint && ++seen == flush)
                {
                    return i;
                }
            }

            throw new FormatException($"--to-flush {flush}: the log has {seen} flush points.");
        }

        return entries.Count - 1;
    }

    /// <summary>Writes the image of the disk as it was after entry <paramref name="target"/>.</summary>
    /// <param name="reader">The open log.</param>
    /// <param name="entries">Its entries.</param>
    /// <param name="target">The last entry to apply.</param>
    /// <param name="output">The image to write (created or truncated).</param>
    /// <param name="broken">Drop every other write of the last interval.</param>
    /// <param name="crashSeed">Also apply a random subset, from this seed, of the writes after the target up to the next flush point.</param>
    /// <returns>How many writes were applied and dropped, and of the crash window's writes how many landed of how many.</returns>
    public static ReplayResult Replay(WriteLogReader reader, List<WriteLogEntry> entries, int target, string output, bool broken, int? crashSeed = null)
    {
        // The broken mode's range: the last BrokenIntervals runs of writes that flush points before the target made
        // durable (flush points with no write between them do not count: jbd2 issues several in a row). Every other
        // write of them is dropped and the writes after the last flush point kept, so later writes overtake earlier,
        // acknowledged ones. One run is not enough for a journaling file system: its journal still holds what a lost
        // checkpoint write would have written, until a later flush marks the journal empty.
        int lastFlush = -1;
        for (int i = target - 1; i >= 0; i--)
        {
            if (entries[i].IsFlushPoint)
            {
                lastFlush = i;
                break;
            }
        }

        int intervalEnd = -1;
        for (int i = lastFlush - 1; i >= 0; i--)
        {
            if (entries[i].Kind == WriteLogKind.Write && !entries[i].IsFlushPoint)
            {
                intervalEnd = i;
                break;
            }
        }

        // Back over BrokenIntervals runs of writes, each closed by a flush point.
        int intervalStart = 0;
        int runs = 0;
        bool inRun = false;
        for (int i = intervalEnd; i >= 0; i--)
        {
            if (entries[i].IsFlushPoint)
            {
                if (inRun && ++runs == BrokenIntervals)
                {
                    intervalStart = i + 1;
                    break;
                }

                inRun = false;
            }
            else if (entries[i].Kind == WriteLogKind.Write)
            {
                inRun = true;
            }
        }

        using Microsoft.Win32.SafeHandles.SafeFileHandle image = File.OpenHandle(output, FileMode.Create, FileAccess.ReadWrite, FileShare.None);
        RandomAccess.SetLength(image, reader.Capacity);
        byte[] scratch = new byte[1 << 20];
        int applied = 0;
        int dropped = 0;
        int intervalWrites = 0;
        for (int i = 0; i <= target; i++)
        {
            WriteLogEntry entry = entries[i];
            if (broken && i >= intervalStart && i <= intervalEnd && entry.Kind == WriteLogKind.Write && (intervalWrites++ & 1) == 0)
            {
                dropped++;
                continue;
            }

            reader.Apply(entry, image, scratch);
            applied += IsData(entry) ? 1 : 0;
        }

        int landed = 0;
        int window = 0;
        if (crashSeed is int seed)
        {
#pragma warning disable CA5394 // A reproducible sample of crash states, not security.
            var random = new Random(seed);
            for (int i = target + 1; i < entries.Count; i++)
            {
                WriteLogEntry entry = entries[i];
                if (IsData(entry))
                {
                    window++;
                    if (random.Next(2) == 0)
                    {
                        reader.Apply(entry, image, scratch);
                        landed++;
                    }
                }

                // The next flush point closes the window: what it made durable is not at the crash's mercy any more.
                if (entry.IsFlushPoint)
                {
                    break;
                }
            }
#pragma warning restore CA5394
        }

        return new ReplayResult(applied, dropped, landed, window);
    }

    private static bool IsData(WriteLogEntry entry) => entry.Kind is WriteLogKind.Write or WriteLogKind.Discard or WriteLogKind.WriteZeroes;
}
