using System.Globalization;

namespace Blkmq;

/// <summary>
/// Parses byte counts as fio, null_blk and the <c>blkmq</c> command write them: a non-negative integer with an
/// optional binary suffix <c>K</c>, <c>M</c>, <c>G</c>, <c>T</c>, <c>P</c> or <c>E</c> (powers of 1024), case-insensitive,
/// which may be followed by <c>B</c> or <c>iB</c> (<c>4k</c>, <c>4K</c>, <c>4KB</c> and <c>4KiB</c> are all 4096); a lone
/// <c>B</c> means bytes. The one size parser of every driver, front end and tool.
/// </summary>
/// <remarks>
/// A count that does not fit in a <see cref="long"/> is refused, never wrapped: <c>16777217T</c> is too large rather
/// than 1 TiB. Signs, fractions, blanks inside the text and decimal (<c>kB</c> = 1000) units are not accepted.
/// </remarks>
public static class SizeParser
{
    /// <summary>What <see cref="Parse(string, string?, long)"/> says a size looks like, for error messages.</summary>
    public const string Syntax = "a number with an optional K, M, G, T, P or E suffix";

    private enum Outcome
    {
        Parsed,
        Invalid,
        TooLarge,
    }

    /// <summary>Parses a byte count.</summary>
    /// <param name="text">The text, such as <c>4096</c>, <c>4k</c>, <c>512M</c> or <c>1GiB</c>; blanks around it are ignored.</param>
    /// <param name="name">The parameter or option the text belongs to, to start the error message with; or <see langword="null"/>.</param>
    /// <param name="unit">
    /// What a number without a suffix counts: 1 for bytes (the default), <c>1 &lt;&lt; 20</c> for a parameter null_blk
    /// counts in MiB such as <c>cache_size</c>; a suffix always means what it says.
    /// </param>
    /// <returns>The byte count, zero or more.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="unit"/> is not positive.</exception>
    /// <exception cref="FormatException">The text is not a size.</exception>
    /// <exception cref="OverflowException">The size does not fit in a <see cref="long"/>.</exception>
    public static long Parse(string text, string? name = null, long unit = 1)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(unit);
        return ParseCore(text, unit, out long bytes) switch
        {
            Outcome.Parsed => bytes,
            Outcome.TooLarge => throw new OverflowException(Prefix(name) + $"'{text}' is too large."),
            _ => throw new FormatException(Prefix(name) + $"'{text}' is not a size ({Syntax})."),
        };
    }

    /// <summary>Parses a byte count without throwing.</summary>
    /// <param name="text">The text, as for <see cref="Parse(string, string?, long)"/>.</param>
    /// <param name="bytes">The byte count, or zero when the text is not a size or too large.</param>
    /// <returns><see langword="true"/> when <paramref name="text"/> is a size that fits in a <see cref="long"/>.</returns>
    public static bool TryParse(ReadOnlySpan<char> text, out long bytes) => TryParse(text, 1, out bytes);

    /// <summary>Parses a byte count without throwing, a number without a suffix counting <paramref name="unit"/> bytes.</summary>
    /// <param name="text">The text, as for <see cref="Parse(string, string?, long)"/>.</param>
    /// <param name="unit">What a number without a suffix counts; positive.</param>
    /// <param name="bytes">The byte count, or zero when the text is not a size or too large.</param>
    /// <returns><see langword="true"/> when <paramref name="text"/> is a size that fits in a <see cref="long"/>.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="unit"/> is not positive.</exception>
    public static bool TryParse(ReadOnlySpan<char> text, long unit, out long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(unit);
        return ParseCore(text, unit, out bytes) == Outcome.Parsed;
    }

    /// <summary>Formats a byte count with the largest binary suffix that divides it (<c>4096</c> → <c>4K</c>, <c>1000</c> → <c>1000</c>).</summary>
    /// <param name="bytes">The byte count.</param>
    /// <returns>Text that <see cref="Parse(string, string?, long)"/> reads back as <paramref name="bytes"/>.</returns>
    public static string Format(long bytes)
    {
        const string Suffixes = "KMGTPE";
        int index = -1;
        while (bytes != 0 && index + 1 < Suffixes.Length && (bytes & 1023) == 0)
        {
            bytes >>= 10;
            index++;
        }

        string number = bytes.ToString(CultureInfo.InvariantCulture);
        return index < 0 ? number : number + Suffixes[index];
    }

    private static string Prefix(string? name) => string.IsNullOrEmpty(name) ? string.Empty : name + ": ";

    private static Outcome ParseCore(ReadOnlySpan<char> text, long unit, out long bytes)
    {
        bytes = 0;
        text = text.Trim();

        // The unit's tail first: "iB" or "B" ("4KiB", "4KB", "512B").
        if (text.Length > 2 && (text[^1] is 'B' or 'b') && (text[^2] is 'i' or 'I') && !char.IsAsciiDigit(text[^3]))
        {
            text = text[..^2];
        }
        else if (text.Length > 1 && text[^1] is 'B' or 'b')
        {
            text = text[..^1];
            if (char.IsAsciiDigit(text[^1]))
            {
                // "512B": bytes, whatever the unit of a bare number is.
                unit = 1;
            }
        }

        int shift = text.IsEmpty ? -1 : SuffixShift(text[^1]);
        if (shift > 0)
        {
            text = text[..^1];
        }
        else if (shift < 0 && !text.IsEmpty && !char.IsAsciiDigit(text[^1]))
        {
            return Outcome.Invalid;
        }

        if (text.IsEmpty)
        {
            return Outcome.Invalid;
        }

        long number = 0;
        foreach (char c in text)
        {
            if (!char.IsAsciiDigit(c))
            {
                return Outcome.Invalid;
            }

            // Keep reading after an overflow, so "99999999999999999999x" is bad input, not a large size.
            if (number >= 0)
            {
                number = number > (long.MaxValue - (c - '0')) / 10 ? -1 : (number * 10) + (c - '0');
            }
        }

        if (number < 0)
        {
            return Outcome.TooLarge;
        }

        return TryScale(number, shift > 0 ? 1L << shift : unit, out bytes) ? Outcome.Parsed : Outcome.TooLarge;
    }

    // A multiplication or a shift is never checked for overflow by itself (a shift not even inside checked()).
    private static bool TryScale(long number, long multiplier, out long bytes)
    {
        if (number != 0 && multiplier > long.MaxValue / number)
        {
            bytes = 0;
            return false;
        }

        bytes = number * multiplier;
        return true;
    }

    private static int SuffixShift(char c) => c switch
    {
        'k' or 'K' => 10,
        'm' or 'M' => 20,
        'g' or 'G' => 30,
        't' or 'T' => 40,
        'p' or 'P' => 50,
        'e' or 'E' => 60,
        _ => -1,
    };
}
