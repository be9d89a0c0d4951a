using System.Globalization;
using Blkmq.Drivers;
using Blkmq.Filters;

namespace Blkmq.Cli;

/// <summary>
/// The filters' control commands, answered before the null driver's (<c>blkmq ctl</c>): <c>mark [EXPORT] NAME</c> appends a
/// mark to the export's log-writes log (EXPORT may be left out when only one export has one; a mark name is unique in its log); <c>filters EXPORT</c> gives the
/// export's stack and what its filters report (stats). Anything else goes to <paramref name="next"/>.
/// </summary>
internal sealed class FilterControl(IReadOnlyList<(string Name, DriverInstance Instance)> exports, Func<string, ValueTask<string>> next)
{
    public const string Usage = "mark [EXPORT] NAME | filters EXPORT";

    public ValueTask<string> ExecuteAsync(string line)
    {
        string[] words = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return words switch
        {
            ["mark", string name] => ValueTask.FromResult(Mark(null, name)),
            ["mark", string export, string name] => ValueTask.FromResult(Mark(export, name)),
            ["mark", ..] => ValueTask.FromResult("error usage: mark [EXPORT] NAME"),
            ["filters", string export] => ValueTask.FromResult(Filters(export)),
            ["filters", ..] => ValueTask.FromResult("error usage: filters EXPORT"),
            ["help"] => NextHelpAsync(line),
            _ => next(line),
        };
    }

    private async ValueTask<string> NextHelpAsync(string line) => (await next(line).ConfigureAwait(false)) + " | " + Usage;

    private string Mark(string? export, string name)
    {
        if (export is null && exports.Any(e => e.Name == name))
        {
            // "mark EXPORT" with the name left out (or given as '', which the split drops): not a mark named after the export.
            return $"error mark {name}: '{name}' is an export; give the mark's name (mark {name} NAME)";
        }

        if (export is not null && !exports.Any(e => e.Name == export))
        {
            return $"error unknown export '{export}'.";
        }

        var logs = new List<(string Export, LogWritesFilter Log)>();
        foreach ((string exportName, DriverInstance instance) in exports)
        {
            if ((export is null || exportName == export) && FilterStack.FindFilters(instance).OfType<LogWritesFilter>().FirstOrDefault() is LogWritesFilter log)
            {
                logs.Add((exportName, log));
            }
        }

        switch (logs)
        {
            case []:
                return export is null ? "error no export has a log-writes filter" : $"error export '{export}' has no log-writes filter";
            case [(string exportName, LogWritesFilter log)]:
                try
                {
                    long sequence = log.Mark(name);
                    return string.Create(CultureInfo.InvariantCulture, $"ok {exportName} mark {name} entry={sequence}");
                }
                catch (InvalidOperationException ex)
                {
                    return "error " + ex.Message;
                }

            default:
                return $"error ambiguous: exports {string.Join(", ", logs.Select(static l => l.Export))} have log-writes; name one (mark EXPORT {name})";
        }
    }

    private string Filters(string export)
    {
        foreach ((string exportName, DriverInstance instance) in exports)
        {
            if (exportName == export)
            {
                // The stack, then what each filter has to report (statistics), top first, on one line.
                return string.Join("; ", FilterStack.Reports(instance).Prepend("ok " + instance.DriverName)).ReplaceLineEndings("; ");
            }
        }

        return $"error unknown export '{export}'.";
    }
}
