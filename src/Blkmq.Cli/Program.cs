using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using System.Text.RegularExpressions;

namespace Blkmq.Cli;

/// <summary>The <c>blkmq</c> entry point: one root command, one subcommand per tool.</summary>
internal static partial class Program
{
    /// <summary>Exit code for arguments that do not parse or do not make sense together.</summary>
    public const int ExitBadArguments = 2;

    /// <summary>Exit code when the tool ran but IO failed.</summary>
    public const int ExitIOError = 1;

    public static int Main(string[] args)
    {
        // A RootCommand would be named after the entry assembly (Blkmq.Cli, see the project file); the command is blkmq.
        var root = new Command("blkmq", "blkmq: a userspace multi-queue block layer (Linux blk-mq) for .NET, with drivers for memory and null disks (null_blk), files and block devices (io_uring) and Ceph RBD images, and stacking filters ('blkmq drivers' lists them).")
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
                Console.Error.WriteLine($"{CommandPath(parseResult.CommandResult)}: {Describe(error)}");
            }

            Console.Error.WriteLine($"Try '{CommandPath(parseResult.CommandResult)} --help'.");
            return ExitBadArguments;
        }

        return parseResult.Invoke();
    }

    /// <summary>
    /// An exception's message as a one-line error for the user: its first line, without the <c> (Parameter 'X')</c> an
    /// <see cref="ArgumentException"/> appends (X names a property or an argument of the code, not what the user typed).
    /// </summary>
    internal static string OneLine(Exception ex)
    {
        string message = ex is ArgumentException { ParamName: { } name }
            ? ex.Message.Replace($" (Parameter '{name}')", string.Empty, StringComparison.Ordinal)
            : ex.Message;
        return message.Split('\n')[0].TrimEnd('\r');
    }

    /// <summary>
    /// A parse error in the user's terms: a value that does not convert to its option's type ("Cannot parse argument
    /// 'abc' for option '--crash' as expected type 'System.Nullable`1[System.Int32]'") says what the option takes.
    /// </summary>
    private static string Describe(ParseError error)
    {
        Match match = ConversionError().Match(error.Message);
        (string? name, Type? type) = error.SymbolResult switch
        {
            OptionResult option => (option.Option.Name, option.Option.ValueType),
            ArgumentResult { Parent: OptionResult option } => (option.Option.Name, option.Option.ValueType),
            ArgumentResult argument => (argument.Argument.Name, argument.Argument.ValueType),
            _ => (null, null),
        };
        if (match.Success && name is not null && type is not null)
        {
            return $"{name}: '{match.Groups["value"].Value}' is not {Expected(type)}.";
        }

        // System.CommandLine lists the accepted values one per line ("Argument 'x' not recognized. Must be one of:\n\t'a'..."):
        // one line, naming the option.
        Match choices = NotAChoiceError().Match(error.Message);
        if (choices.Success)
        {
            string accepted = string.Join(", ", choices.Groups["choice"].Captures.Select(static c => c.Value));
            string value = choices.Groups["value"].Value;
            return name is not null ? $"{name}: '{value}' is not one of {accepted}." : $"'{value}' is not one of {accepted}.";
        }

        return string.Join(' ', error.Message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }

    private static string Expected(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (type.IsArray)
        {
            type = type.GetElementType()!;
        }

        return type switch
        {
            _ when type == typeof(int) || type == typeof(long) || type == typeof(short) || type == typeof(uint) || type == typeof(ulong) || type == typeof(ushort) || type == typeof(byte) => "an integer",
            _ when type == typeof(double) || type == typeof(float) || type == typeof(decimal) => "a number",
            _ when type == typeof(bool) => "true or false",
            _ when type.IsEnum => "one of " + string.Join(", ", Enum.GetNames(type)).ToLowerInvariant(),
            _ => "a valid " + type.Name.ToLowerInvariant(),
        };
    }

    [GeneratedRegex(@"^Cannot parse argument '(?<value>.*)' for (option|command) '.*' as expected type ", RegexOptions.Singleline | RegexOptions.ExplicitCapture)]
    private static partial Regex ConversionError();

    [GeneratedRegex(@"^Argument '(?<value>.*)' not recognized\. Must be one of:(\s+'(?<choice>[^']*)')+\s*$", RegexOptions.Singleline | RegexOptions.ExplicitCapture)]
    private static partial Regex NotAChoiceError();

    private static string CommandPath(CommandResult result) =>
        result.Parent is CommandResult parent
            ? CommandPath(parent) + " " + result.Command.Name
            : result.Command.Name;
}
