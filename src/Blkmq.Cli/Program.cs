using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;

namespace Blkmq.Cli;

/// <summary>The <c>blkmq</c> entry point: one root command, one subcommand per tool.</summary>
internal static class Program
{
    /// <summary>Exit code for arguments that do not parse or do not make sense together.</summary>
    public const int ExitBadArguments = 2;

    /// <summary>Exit code when the tool ran but IO failed.</summary>
    public const int ExitIOError = 1;

    public static int Main(string[] args)
    {
        // A RootCommand would be named after the entry assembly (Blkmq.Cli, see the project file); the command is blkmq.
        var root = new Command("blkmq", "blkmq: a userspace multi-queue block layer (Linux blk-mq) for .NET, with a null block driver ('blkmq drivers' lists the drivers).")
        {
            new HelpOption(),
            new VersionOption(),
        };

        // Subcommands
        root.Subcommands.Add(new ServeCommand());
        root.Subcommands.Add(new BenchCommand());
        root.Subcommands.Add(new CtlCommand());
        root.Subcommands.Add(new StatCommand());
        root.Subcommands.Add(new DriversCommand());
        root.Subcommands.Add(new ReplayCommand());
        root.Subcommands.Add(new UblkCommand());

        ParseResult parseResult = root.Parse(args.Length == 0 ? ["--help"] : args);
        if (parseResult.Errors.Count > 0 && parseResult.Action is ParseErrorAction)
        {
            // System.CommandLine would print the whole help and exit with 1; blkmq keeps 1 for IO errors.
            foreach (ParseError error in parseResult.Errors)
            {
                Console.Error.WriteLine($"{CommandPath(parseResult.CommandResult)}: {error.Message}");
            }

            Console.Error.WriteLine($"Try '{CommandPath(parseResult.CommandResult)} --help'.");
            return ExitBadArguments;
        }

        return parseResult.Invoke();
    }

    private static string CommandPath(CommandResult result) =>
        result.Parent is CommandResult parent
            ? CommandPath(parent) + " " + result.Command.Name
            : result.Command.Name;
}
