namespace Blkmq;

/// <summary>
/// Parses the on/off values of driver and filter parameters (<c>readonly=1</c>, <c>memory_backed=yes</c>,
/// <c>exclusive=off</c>) and of the <c>blkmq</c> command's flag options: <c>1</c>/<c>0</c>, <c>yes</c>/<c>no</c> (also
/// <c>y</c>/<c>n</c>, as null_blk's module parameters), <c>true</c>/<c>false</c> and <c>on</c>/<c>off</c>,
/// case-insensitive, blanks around them ignored. The one boolean parser of every driver, filter and tool.
/// </summary>
public static class BooleanParser
{
    /// <summary>What <see cref="Parse"/> accepts, for error messages and help.</summary>
    public const string Syntax = "1/0, yes/no, true/false or on/off";

    private static readonly string[] s_true = ["1", "yes", "y", "true", "on"];
    private static readonly string[] s_false = ["0", "no", "n", "false", "off"];

    /// <summary>Parses an on/off value.</summary>
    /// <param name="text">The value, such as <c>1</c>, <c>yes</c> or <c>Off</c>.</param>
    /// <param name="key">
    /// The parameter the value was given for, with whatever the caller's messages start with (<c>file: readonly</c>);
    /// the error message names it as <c>KEY=VALUE</c>.
    /// </param>
    /// <returns>The value.</returns>
    /// <exception cref="FormatException">The text is none of <see cref="Syntax"/>; one line naming the key and the accepted values.</exception>
    public static bool Parse(string text, string key)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(key);
        return TryParse(text, out bool value)
            ? value
            : throw new FormatException($"{key}={text} is not a boolean ({Syntax}).");
    }

    /// <summary>Parses an on/off value without throwing.</summary>
    /// <param name="text">The value, as for <see cref="Parse"/>.</param>
    /// <param name="value">The value, or <see langword="false"/> when the text is not one.</param>
    /// <returns><see langword="true"/> when <paramref name="text"/> is one of <see cref="Syntax"/>.</returns>
    public static bool TryParse(ReadOnlySpan<char> text, out bool value)
    {
        text = text.Trim();
        value = false;
        if (Matches(text, s_false))
        {
            return true;
        }

        value = Matches(text, s_true);
        return value;
    }

    private static bool Matches(ReadOnlySpan<char> text, string[] words)
    {
        foreach (string word in words)
        {
            if (text.Equals(word, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }
}
