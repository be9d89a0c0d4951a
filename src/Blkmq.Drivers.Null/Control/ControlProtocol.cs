using System.Globalization;
using System.Text;
namespace Blkmq.Drivers.Null.Control;

/// <summary>
/// The null driver's control language, null_blk's configfs as text (what <c>blkmq serve --control</c> answers on its
/// socket and <c>blkmq ctl</c> sends): one command per line, one
/// reply line per command, <c>ok ...</c> or <c>error MESSAGE</c>. Commands: <c>list</c>; <c>power EXPORT on|off</c>;
/// <c>badblocks EXPORT add|remove START-END</c> (sectors, both ends included) and <c>badblocks EXPORT clear</c>;
/// <c>powercut EXPORT</c>; <c>stats EXPORT</c> (the 17 fields of <c>/sys/block/DEV/stat</c>); <c>help</c>.
/// A bad command changes nothing and leaves the connection usable. <c>list</c> also lists the server's other exports,
/// whose disks these commands cannot change.
/// </summary>
public sealed class ControlProtocol
{
    /// <summary>The reply to <c>help</c>.</summary>
    public const string Usage = "list | power EXPORT on|off | badblocks EXPORT add|remove START-END | badblocks EXPORT clear | powercut EXPORT | stats EXPORT";

    private readonly Dictionary<string, ControlExport> _exports = new(StringComparer.Ordinal);
    private readonly List<ControlExport> _exportList = [];
    private readonly Dictionary<string, string> _others = new(StringComparer.Ordinal);
    private readonly List<string> _otherList = [];
    private readonly Action<string, Disk>? _poweredOn;

    /// <summary>Initializes a new instance of the <see cref="ControlProtocol"/> class.</summary>
    /// <param name="exports">The exports, by unique name; their devices stay the caller's.</param>
    /// <param name="poweredOn">Called with an export's name and its device's new disk after <c>power EXPORT on</c>
    /// (the NBD server serves that disk from then on).</param>
    /// <param name="others">
    /// The server's other exports, which these commands cannot change (no null/memory disk at the top of their stack),
    /// each with what it is (<c>memory|delay</c>): <c>list</c> lists them, and a command naming one says why it cannot.
    /// </param>
    /// <exception cref="ArgumentException">Two exports have the same name.</exception>
    public ControlProtocol(IEnumerable<ControlExport> exports, Action<string, Disk>? poweredOn = null, IEnumerable<(string Name, string Stack)>? others = null)
    {
        ArgumentNullException.ThrowIfNull(exports);
        _poweredOn = poweredOn;
        foreach (ControlExport export in exports)
        {
            _exports.Add(export.Name, export);
            _exportList.Add(export);
        }

        foreach ((string name, string stack) in others ?? [])
        {
            if (_exports.ContainsKey(name))
            {
                throw new ArgumentException($"Export '{name}' is given twice.", nameof(others));
            }

            _others.Add(name, stack);
            _otherList.Add(name);
        }
    }

    /// <summary>Runs one command line; any thread, commands may run concurrently.</summary>
    /// <param name="line">The command, words separated by blanks.</param>
    /// <returns>The reply, one line without its newline: <c>ok ...</c> or <c>error MESSAGE</c>.</returns>
    public async ValueTask<string> ExecuteAsync(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        string[] words = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (words.Length == 0)
        {
            return "error empty command; try 'help'";
        }

        try
        {
            return words[0] switch
            {
                "help" when words.Length == 1 => "ok " + Usage,
                "list" when words.Length == 1 => List(),
                "power" => await PowerAsync(words).ConfigureAwait(false),
                "badblocks" => BadBlocks(words),
                "powercut" => PowerCut(words),
                "stats" => Stats(words),
                "help" or "list" => $"error '{words[0]}' takes no arguments",
                _ => $"error unknown command '{words[0]}'; try 'help'",
            };
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException or InvalidOperationException or IOException or KeyNotFoundException)
        {
            // ObjectDisposedException is an InvalidOperationException: the server is stopping under the command.
            return "error " + OneLine(ex.Message);
        }
    }

    private static string OneLine(string text) => text.ReplaceLineEndings(" ").Trim();

    private static string Summary(NullDevice device)
    {
        NullBlockOptions o = device.Options;
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"size={o.Size} bs={o.BlockSize} power={(device.Power ? "on" : "off")}");
        text.Append(CultureInfo.InvariantCulture, $" memory_backed={(o.MemoryBacked ? 1 : 0)} submit_queues={o.SubmitQueues} hw_queue_depth={o.HwQueueDepth}");
        text.Append(CultureInfo.InvariantCulture, $" irqmode={(int)o.IrqMode} cache_size={o.CacheSize} discard={(o.Discard ? 1 : 0)} zoned={(o.Zoned ? 1 : 0)}");
        text.Append(CultureInfo.InvariantCulture, $" badblocks={device.BadBlocks.Ranges.Count}");
        return text.ToString();
    }

    private string List()
    {
        var text = new StringBuilder("ok");
        text.Append(CultureInfo.InvariantCulture, $" {_exportList.Count + _otherList.Count} export(s)");
        foreach (ControlExport export in _exportList)
        {
            text.Append(CultureInfo.InvariantCulture, $"; {export.Name} disk={export.Device.Name} {Summary(export.Device)}");
        }

        foreach (string name in _otherList)
        {
            text.Append(CultureInfo.InvariantCulture, $"; {name} {_others[name]} (no null_blk controls)");
        }

        return text.ToString();
    }

    private async ValueTask<string> PowerAsync(string[] words)
    {
        if (words.Length != 3 || words[2] is not ("on" or "off"))
        {
            return "error usage: power EXPORT on|off";
        }

        ControlExport export = Find(words[1]);
        if (words[2] == "on")
        {
            export.Device.PowerOn();
            if (export.Device.Disk is { } disk)
            {
                _poweredOn?.Invoke(export.Name, disk);
            }

            return $"ok {export.Name} power=on";
        }

        await export.Device.PowerOffAsync().ConfigureAwait(false);
        return $"ok {export.Name} power=off";
    }

    private string BadBlocks(string[] words)
    {
        if (words.Length == 3 && words[2] == "clear")
        {
            ControlExport cleared = Find(words[1]);
            cleared.Device.BadBlocks.Clear();
            return $"ok {cleared.Name} badblocks cleared";
        }

        if (words.Length != 4 || words[2] is not ("add" or "remove"))
        {
            return "error usage: badblocks EXPORT add|remove START-END | badblocks EXPORT clear";
        }

        ControlExport export = Find(words[1]);
        (long first, long last) = ParseRange(words[3]);
        if (words[2] == "add")
        {
            export.Device.BadBlocks.Add(first, last - first + 1);
        }
        else
        {
            export.Device.BadBlocks.Remove(first, last - first + 1);
        }

        return $"ok {export.Name} badblocks={export.Device.BadBlocks.Ranges.Count}";
    }

    private string PowerCut(string[] words)
    {
        if (words.Length != 2)
        {
            return "error usage: powercut EXPORT";
        }

        ControlExport export = Find(words[1]);
        long lost = export.Device.CachedBytes;
        export.Device.PowerCut();
        return export.Device.Options.CacheSize > 0
            ? string.Create(CultureInfo.InvariantCulture, $"ok {export.Name} powercut dropped={lost}")
            : $"ok {export.Name} powercut (no cache_size: nothing to lose)";
    }

    private string Stats(string[] words)
    {
        if (words.Length != 2)
        {
            return "error usage: stats EXPORT";
        }

        ControlExport export = Find(words[1]);
        Disk disk = export.Device.Disk ?? throw new InvalidOperationException($"export '{export.Name}' is powered off.");
        return "ok " + disk.GetStatistics().ToSysfsString();
    }

    private ControlExport Find(string name) =>
        _exports.TryGetValue(name, out ControlExport? export) ? export
        : _others.TryGetValue(name, out string? stack) ? throw new InvalidOperationException($"export '{name}' is not a null/memory disk at the top of its stack (it is {stack}): power, badblocks, powercut and stats need one.")
        : throw new KeyNotFoundException($"unknown export '{name}'.");

    private static (long First, long Last) ParseRange(string text)
    {
        int dash = text.IndexOf('-', StringComparison.Ordinal);
        if (dash <= 0
            || !long.TryParse(text.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out long first)
            || !long.TryParse(text.AsSpan(dash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out long last)
            || last < first)
        {
            throw new FormatException($"'{text}' is not a sector range: START-END, START <= END.");
        }

        return (first, last);
    }
}
