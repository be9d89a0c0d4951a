using System.Globalization;
using Blkmq.Drivers;
using Blkmq.Filters;

namespace Blkmq.Cli;

/// <summary>
/// The filters' control commands, answered before the null driver's (<c>blkmq ctl</c>): <c>mark [EXPORT] NAME</c> appends a
/// mark to the export's log-writes log (the first export with one when EXPORT is left out); <c>filters EXPORT</c> gives the
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
        foreach ((string exportName, DriverInstance instance) in exports)
        {
            if (export is not null && exportName != export)
            {
                continue;
            }

            foreach (BlockFilter filter in FilterStack.FindFilters(instance))
            {
                if (filter is LogWritesFilter log)
                {
                    try
                    {
                        long sequence = log.Mark(name);
                        return string.Create(CultureInfo.InvariantCulture, $"ok {exportName} mark {name} entry={sequence}");
                    }
                    catch (InvalidOperationException ex)
                    {
                        return "error " + ex.Message;
                    }
                }
            }
        }

        return export is null ? "error no export has a log-writes filter" : $"error export '{export}' has no log-writes filter";
    }

    private string Filters(string export)
    {
        foreach ((string exportName, DriverInstance instance) in exports)
        {
            if (exportName == export)
            {
                // The stack, then what each filter has to report (statistics), top first, on one line.
                IEnumerable<string> reports = FilterStack.FindFilters(instance).Select(static f => f.Report()).OfType<string>();
                return string.Join("; ", reports.Prepend("ok " + instance.DriverName)).ReplaceLineEndings("; ");
            }
        }

        return $"error unknown export '{export}'";
    }
}
