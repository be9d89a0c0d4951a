using System.CommandLine;
using System.Globalization;
using Blkmq.Filters;

namespace Blkmq.Cli;

/// <summary>
/// <c>blkmq replay LOG --output IMAGE [--to MARK | --to-flush N]</c>: rebuilds the disk a <c>log-writes</c> filter
/// logged, as it was at a mark or flush point (dm-log-writes' <c>replay-log</c>), or as a crash right after it may have
/// left it (<c>--crash SEED</c>); <c>--list</c> shows the marks and flush points.
/// </summary>
internal sealed class ReplayCommand : Command
{
    private readonly Argument<string> _log = new("log") { Description = "The log a log-writes filter wrote (file=LOG)." };

    private readonly Option<string?> _output = new("--output") { Description = "The image to write (created or truncated to the disk's size).", HelpName = "image" };

    private readonly Option<string?> _to = new("--to") { Description = "Stop after this mark (blkmq ctl mark NAME).", HelpName = "mark" };

    private readonly Option<int?> _toFlush = new("--to-flush") { Description = "Stop after the Nth flush point (a flush or a FUA write), from 1.", HelpName = "n" };

    private readonly Option<bool> _list = new("--list") { Description = "List the log's entries, flush points and marks instead of replaying." };

    private readonly Option<bool> _broken = new("--broken") { Description = "Deliberately wrong: drop every other write of the last 8 runs of writes that flushes before the target made durable, keeping the later ones (a device that loses acknowledged writes); a checker must catch it." };

    private readonly Option<int?> _crash = new("--crash")
    {
        Description = "A crash state right after the target: also apply a random subset (from this seed, each write with probability 1/2, in log order) "
            + "of the writes that completed after it and before the next flush point, as a power cut with a volatile cache may leave them.",
        HelpName = "seed",
    };

    public ReplayCommand()
        : base("replay", "Rebuild a disk from a log-writes log as it was at a mark or flush point.")
    {
        ArgumentParsers.RefuseUnknownOptions(_log);
        Arguments.Add(_log);
        Options.Add(_output);
        Options.Add(_to);
        Options.Add(_toFlush);
        Options.Add(_list);
        Options.Add(_broken);
        Options.Add(_crash);
        SetAction(Run);
    }

    private int Run(ParseResult parseResult)
    {
        string log = parseResult.GetRequiredValue(_log);
        string? output = parseResult.GetValue(_output);
        string? mark = parseResult.GetValue(_to);
        int? flush = parseResult.GetValue(_toFlush);
        bool list = parseResult.GetValue(_list);
        if (Directory.Exists(log))
        {
            // Opening a directory fails as "Access to the path is denied", which sends the user to check permissions.
            Console.Error.WriteLine($"blkmq replay: {log} is a directory; give the log file (log-writes:file=LOG).");
            return Program.ExitBadArguments;
        }

        if (!list && output is null)
        {
            Console.Error.WriteLine("blkmq replay: --output IMAGE is required (or --list).");
            return Program.ExitBadArguments;
        }

        if (!list && Directory.Exists(output))
        {
            Console.Error.WriteLine($"blkmq replay: --output {output} is a directory; give the image file to write.");
            return Program.ExitBadArguments;
        }

        if (mark is not null && flush is not null)
        {
            Console.Error.WriteLine("blkmq replay: give --to or --to-flush, not both.");
            return Program.ExitBadArguments;
        }

        int? crash = parseResult.GetValue(_crash);
        if (crash is not null && parseResult.GetValue(_broken))
        {
            Console.Error.WriteLine("blkmq replay: give --crash or --broken, not both.");
            return Program.ExitBadArguments;
        }

        if (flush is < 1)
        {
            Console.Error.WriteLine("blkmq replay: --to-flush must be 1 or more.");
            return Program.ExitBadArguments;
        }

        try
        {
            using WriteLogReader reader = WriteLogReader.Open(log);
            List<WriteLogEntry> entries = reader.ReadEntries();
            if (reader.TornBytes > 0)
            {
                // A crash of the server mid-entry (or a copy cut short): what comes before stands, but say so.
                Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"blkmq replay: {log}: torn tail: {reader.TornBytes} bytes after ")
                    + (entries.Count > 0 ? string.Create(CultureInfo.InvariantCulture, $"entry {entries[^1].Sequence}") : "the header")
                    + " ignored.");
            }

            if (list)
            {
                PrintList(reader, entries);
                return 0;
            }

            int target = WriteLogReplay.FindTarget(entries, mark, flush ?? 0);
            ReplayResult result = WriteLogReplay.Replay(reader, entries, target, output!, parseResult.GetValue(_broken), crash);
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{output}: {reader.Capacity} bytes, {target + 1} of {entries.Count} entries, {result.Applied} writes, write zeroes and discards applied")
                + (result.Dropped > 0 ? string.Create(CultureInfo.InvariantCulture, $", {result.Dropped} dropped (--broken)") : string.Empty)
                + (crash is not null ? string.Create(CultureInfo.InvariantCulture, $", crash {crash}: {result.CrashLanded} of the {result.CrashWindow} writes before the next flush point landed") : string.Empty));
            return 0;
        }
        catch (FormatException ex)
        {
            Console.Error.WriteLine($"blkmq replay: {ex.Message}");
            return Program.ExitBadArguments;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"blkmq replay: {ex.Message.Split('\n')[0]}");
            return Program.ExitIOError;
        }
    }

    private static void PrintList(WriteLogReader reader, List<WriteLogEntry> entries)
    {
        int flushes = 0;
        int writes = 0;
        int zeroes = 0;
        int discards = 0;
        foreach (WriteLogEntry entry in entries)
        {
            writes += entry.Kind == WriteLogKind.Write ? 1 : 0;
            zeroes += entry.Kind == WriteLogKind.WriteZeroes ? 1 : 0;
            discards += entry.Kind == WriteLogKind.Discard ? 1 : 0;
            if (entry.IsFlushPoint)
            {
                flushes++;
            }

            if (entry.Kind == WriteLogKind.Mark)
            {
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"mark {entry.MarkName} entry={entry.Sequence} after-flush-points={flushes}"));
            }
        }

        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"entries={entries.Count} writes={writes} write-zeroes={zeroes} discards={discards} flush-points={flushes} capacity={reader.Capacity} block-size={reader.BlockSize}"));
    }
}
