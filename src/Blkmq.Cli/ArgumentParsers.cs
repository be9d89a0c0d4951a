using System.CommandLine.Parsing;
using System.Globalization;
using Blkmq.Drivers.Null;

namespace Blkmq.Cli;

/// <summary>Value parsers for options in fio's and null_blk's notations (sizes with suffixes, durations, on/off flags).</summary>
internal static class ArgumentParsers
{
    /// <summary>Parses a byte count such as <c>4K</c>, <c>128k</c>, <c>1M</c>, <c>1G</c> or <c>4096</c> (powers of 1024).</summary>
    public static long ParseSize(ArgumentResult result)
    {
        string text = SingleToken(result);
        try
        {
            long value = SizeParser.Parse(text);
            if (value <= 0)
            {
                result.AddError($"{OptionName(result)}: '{text}' must be positive.");
            }

            return value;
        }
        catch (Exception ex) when (ex is FormatException or OverflowException)
        {
            result.AddError(ex is OverflowException
                ? $"{OptionName(result)}: '{text}' is too large."
                : $"{OptionName(result)}: '{text}' is not a size ({SizeParser.Syntax}).");
            return 0;
        }
    }

    /// <summary>Parses a duration: plain seconds (<c>5</c>, <c>0.5</c>) or with a unit (<c>5s</c>, <c>500ms</c>, <c>2m</c>, <c>1h</c>).</summary>
    public static TimeSpan ParseDuration(ArgumentResult result)
    {
        string text = SingleToken(result).Trim().ToLowerInvariant();
        (string number, double unitSeconds) = text switch
        {
            _ when text.EndsWith("ms", StringComparison.Ordinal) => (text[..^2], 0.001),
            _ when text.EndsWith("us", StringComparison.Ordinal) => (text[..^2], 0.000_001),
            _ when text.EndsWith('s') => (text[..^1], 1.0),
            _ when text.EndsWith('m') => (text[..^1], 60.0),
            _ when text.EndsWith('h') => (text[..^1], 3600.0),
            _ => (text, 1.0),
        };
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || value < 0 || double.IsInfinity(value) || value * unitSeconds > 365 * 86400.0)
        {
            result.AddError($"{OptionName(result)}: '{text}' is not a duration (seconds, or a number with us, ms, s, m or h).");
            return TimeSpan.Zero;
        }

        return TimeSpan.FromSeconds(value * unitSeconds);
    }

    /// <summary>
    /// Parses a null_blk boolean into null_blk's text, <c>1</c> or <c>0</c>: no value means 1; else what
    /// <see cref="BooleanParser"/> takes (1/0, yes/no, true/false, on/off). Its option is an <c>Option&lt;string&gt;</c>:
    /// System.CommandLine gives a bool-typed option only a following token that <see cref="bool.TryParse(string, out bool)"/>
    /// reads, so <c>--memory-backed 0</c> was "Unrecognized command or argument '0'".
    /// </summary>
    public static string ParseFlag(ArgumentResult result)
    {
        if (result.Tokens.Count == 0)
        {
            return "1";
        }

        string text = result.Tokens[0].Value;
        if (!BooleanParser.TryParse(text, out bool value))
        {
            result.AddError($"{OptionName(result)}: '{text}' is not a boolean ({BooleanParser.Syntax}).");
        }

        return value ? "1" : "0";
    }

    /// <summary>Parses null_blk's <c>irqmode</c>: 0/none, 1/softirq, 2/timer.</summary>
    public static IrqMode ParseIrqMode(ArgumentResult result)
    {
        string text = SingleToken(result).ToLowerInvariant();
        switch (text)
        {
            case "0" or "none":
                return IrqMode.None;
            case "1" or "softirq":
                return IrqMode.SoftIrq;
            case "2" or "timer":
                return IrqMode.Timer;
            default:
                result.AddError($"{OptionName(result)}: '{text}' is not 0/none, 1/softirq or 2/timer.");
                return IrqMode.None;
        }
    }

    /// <summary>
    /// Refuses a value of <paramref name="argument"/> that looks like an option (<c>--x</c>, <c>-x</c>) as an unknown
    /// option: an argument that takes several words would otherwise take a mistyped option as a command word, an
    /// export or a file (<c>ctl --control c.sock --bogus list</c> sent <c>--bogus list</c> to the server). A leading '-'
    /// followed by a digit stays a value (a negative number, which the command then refuses in its own words).
    /// </summary>
    /// <param name="argument">The argument to check; a validator is added to it.</param>
    public static void RefuseUnknownOptions(System.CommandLine.Argument argument) => argument.Validators.Add(static result =>
    {
        foreach (Token token in result.Tokens)
        {
            if (token.Value.Length > 1 && token.Value[0] == '-' && !char.IsAsciiDigit(token.Value[1]))
            {
                result.AddError($"unknown option '{token.Value}'.");
                return;
            }
        }
    });

    private static string SingleToken(ArgumentResult result) => result.Tokens.Count > 0 ? result.Tokens[0].Value : string.Empty;

    // The name the user typed (--ramp-time, not its alias --warmup).
    private static string OptionName(ArgumentResult result) =>
        result.Parent is OptionResult option ? option.IdentifierToken?.Value ?? option.Option.Name : result.Argument.Name;
}
