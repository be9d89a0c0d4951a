using System.CommandLine;
using System.Text;
using Blkmq.Drivers;

namespace Blkmq.Cli;

/// <summary>
/// <c>blkmq drivers</c>: lists the drivers <c>serve --export NAME=DRIVER:params</c> and <c>bench --driver DRIVER</c>
/// accept, each with its parameters (name, default, meaning), as plain text on stdout.
/// </summary>
internal sealed class DriversCommand : Command
{
    private readonly Argument<string?> _name = new("driver")
    {
        Description = "Show only this driver or filter.",
        Arity = ArgumentArity.ZeroOrOne,
    };

    public DriversCommand()
        : base("drivers", "List the drivers 'serve --export' and 'bench --driver' accept, with their parameters.")
    {
        ArgumentParsers.RefuseUnknownOptions(_name);
        Arguments.Add(_name);
        SetAction(Run);
    }

    /// <summary>The widest <c>name=default</c> column; longer ones push their description right.</summary>
    private const int MaxColumn = 24;

    /// <summary>Formats one driver: a heading line, then one line per parameter.</summary>
    internal static string Format(DriverDescriptor driver) => Format(driver.Name, driver.Description, driver.Parameters);

    /// <summary>Formats one driver or filter: a heading line, then one line per parameter.</summary>
    internal static string Format(string name, string description, IReadOnlyList<DriverParameter> parameters)
    {
        int width = 0;
        foreach (DriverParameter parameter in parameters)
        {
            width = Math.Min(MaxColumn, Math.Max(width, parameter.Name.Length + 1 + parameter.DefaultValue.Length));
        }

        var text = new StringBuilder();
        text.Append(name).Append(": ").AppendLine(description);
        foreach (DriverParameter parameter in parameters)
        {
            string assignment = parameter.Name + "=" + parameter.DefaultValue;
            // An assignment longer than the column still gets two spaces before its description.
            text.Append("  ").Append(assignment.PadRight(Math.Max(width, assignment.Length) + 2)).AppendLine(parameter.Description);
        }

        return text.ToString();
    }

    private int Run(ParseResult parseResult)
    {
        DriverRegistry registry = DriverCatalog.Registry;
        string? name = parseResult.GetValue(_name);
        if (name is not null)
        {
            if (registry.TryGet(name, out DriverDescriptor? driver))
            {
                Console.Out.Write(Format(driver));
                return 0;
            }

            if (Blkmq.Filters.FilterRegistry.Default.TryGet(name, out Blkmq.Filters.FilterDescriptor? filter))
            {
                Console.Out.Write(Format(filter.Name, "(a filter) " + filter.Description, filter.Parameters));
                return 0;
            }

            Console.Error.WriteLine($"blkmq drivers: unknown driver or filter '{name}' (drivers: {registry.KnownNames}; filters: {Blkmq.Filters.FilterRegistry.Default.KnownNames}).");
            return Program.ExitBadArguments;
        }

        Console.Out.WriteLine("Drivers (NAME=DRIVER:key=value,... for serve --export, --driver DRIVER[:key=value,...] for bench; parameters shown with their defaults):");
        Console.Out.WriteLine($"On/off parameters (readonly, memory_backed, ...) of drivers and filters take {BooleanParser.Syntax}, in any case.");
        foreach (DriverDescriptor driver in registry.Drivers)
        {
            Console.Out.WriteLine();
            Console.Out.Write(Format(driver));
        }

        Console.Out.WriteLine();
        Console.Out.WriteLine("Filters (stacked after a driver with '|', from the driver up to the client: file:path=base.img|cow|delay:write=5ms; docs/filters.md):");
        foreach (Blkmq.Filters.FilterDescriptor filter in Blkmq.Filters.FilterRegistry.Default.Filters)
        {
            Console.Out.WriteLine();
            Console.Out.Write(Format(filter.Name, filter.Description, filter.Parameters));
        }

        return 0;
    }
}
