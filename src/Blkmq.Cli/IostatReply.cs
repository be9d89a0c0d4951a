using System.Globalization;
using System.Text;

namespace Blkmq.Cli;

/// <summary>
/// The control socket's <c>iostat [EXPORT]</c> command (what <c>blkmq stat</c> polls): every export's statistics in one
/// line, <c>ok iostat UPTIME_MS; NAME F1 ... F17 RE WE DE FE; ...</c>, where UPTIME_MS is the server's monotonic clock
/// in milliseconds, F1-F17 are the fields of <c>/sys/block/DEV/stat</c> and RE WE DE FE the read, write, discard and
/// flush errors. Names are percent-escaped (no blank or <c>;</c> in them).
/// </summary>
internal static class IostatReply
{
    /// <summary>The command's usage, for <c>help</c>.</summary>
    public const string Usage = "iostat [EXPORT]";

    /// <summary>Formats the reply for <paramref name="words"/> (<c>iostat</c> and maybe an export name).</summary>
    /// <param name="words">The command's words.</param>
    /// <param name="exports">The exports and the disk each serves now.</param>
    /// <returns>The reply line.</returns>
    public static string Execute(string[] words, IReadOnlyList<(string Name, Disk Disk)> exports)
    {
        if (words.Length > 2)
        {
            return "error usage: " + Usage;
        }

        var text = new StringBuilder("ok iostat ");
        text.Append(Environment.TickCount64.ToString(CultureInfo.InvariantCulture));
        bool found = false;
        foreach ((string name, Disk disk) in exports)
        {
            if (words.Length == 2 && words[1] != name)
            {
                continue;
            }

            found = true;
            DiskStats s = disk.GetStatistics();
            text.Append("; ").Append(Uri.EscapeDataString(name)).Append(' ').Append(s.ToSysfsString());
            text.Append(CultureInfo.InvariantCulture, $" {s.ReadErrors} {s.WriteErrors} {s.DiscardErrors} {s.FlushErrors}");
        }

        return words.Length == 2 && !found ? $"error unknown export '{words[1]}'." : text.ToString();
    }

    /// <summary>Parses a reply of <see cref="Execute"/>.</summary>
    /// <param name="reply">The reply line.</param>
    /// <returns>The server's clock in milliseconds and each export's statistics.</returns>
    /// <exception cref="FormatException">The line is not such a reply.</exception>
    public static (long UptimeMs, List<(string Name, DiskStats Stats)> Exports) Parse(string reply)
    {
        string[] parts = reply.Split(';', StringSplitOptions.TrimEntries);
        string[] head = parts[0].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (head is not ["ok", "iostat", var clock] || !long.TryParse(clock, NumberStyles.None, CultureInfo.InvariantCulture, out long uptime))
        {
            throw new FormatException($"Not an iostat reply: '{reply}'.");
        }

        var exports = new List<(string, DiskStats)>();
        foreach (string part in parts.Skip(1))
        {
            string[] fields = part.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length != 22)
            {
                throw new FormatException($"An iostat entry has {fields.Length} fields, not 22: '{part}'.");
            }

            long[] v = [.. fields.Skip(1).Select(static f => long.Parse(f, NumberStyles.None, CultureInfo.InvariantCulture))];
            exports.Add((Uri.UnescapeDataString(fields[0]), new DiskStats
            {
                ReadIos = v[0], ReadMerges = v[1], ReadSectors = v[2], ReadTicks = v[3],
                WriteIos = v[4], WriteMerges = v[5], WriteSectors = v[6], WriteTicks = v[7],
                InFlight = v[8], IoTicks = v[9], TimeInQueue = v[10],
                DiscardIos = v[11], DiscardMerges = v[12], DiscardSectors = v[13], DiscardTicks = v[14],
                FlushIos = v[15], FlushTicks = v[16],
                ReadErrors = v[17], WriteErrors = v[18], DiscardErrors = v[19], FlushErrors = v[20],
            }));
        }

        return (uptime, exports);
    }
}
