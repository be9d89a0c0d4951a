using System.Globalization;

namespace Blkmq.Filters;

/// <summary>
/// A filter's <c>key=value,...</c> text, parsed and checked against the keys its descriptor lists, with typed getters
/// whose errors name the filter and the key in one line.
/// </summary>
internal sealed class FilterArguments
{
    /// <summary>The longest duration a filter takes, a day, in milliseconds: a delay or flakey phase longer than that is a typo.</summary>
    private const double MaxDurationMilliseconds = 24 * 60 * 60 * 1000.0;

    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);

    private FilterArguments(string filter)
    {
        Filter = filter;
    }

    /// <summary>Gets the filter's name.</summary>
    public string Filter { get; }

    /// <summary>Parses <paramref name="text"/> for <paramref name="descriptor"/>.</summary>
    /// <param name="descriptor">The filter.</param>
    /// <param name="text">The parameters (may be empty).</param>
    /// <returns>The arguments.</returns>
    /// <exception cref="FormatException">A pair has no '=' or no value, a key is unknown or given twice.</exception>
    public static FilterArguments Parse(FilterDescriptor descriptor, string text)
    {
        var arguments = new FilterArguments(descriptor.Name);
        foreach (string pair in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new FormatException($"filter '{descriptor.Name}': '{pair}' is not key=value.");
            }

            string key = pair[..eq].Trim().Replace('-', '_');
            if (!descriptor.HasParameter(key))
            {
                throw new FormatException($"filter '{descriptor.Name}': unknown parameter '{pair[..eq].Trim()}' (known: {string.Join(", ", descriptor.Parameters.Select(static p => p.Name))}).");
            }

            string value = pair[(eq + 1)..].Trim();
            if (value.Length == 0)
            {
                throw new FormatException($"filter '{descriptor.Name}': '{pair}' has no value.");
            }

            if (!arguments._values.TryAdd(key, value))
            {
                throw new FormatException($"filter '{descriptor.Name}': '{key}' is given twice.");
            }
        }

        return arguments;
    }

    /// <summary>Gets whether the text gave <paramref name="key"/>.</summary>
    public bool Has(string key) => _values.ContainsKey(key);

    /// <summary>Gets a text value.</summary>
    public string? GetString(string key) => _values.TryGetValue(key, out string? value) ? value : null;

    /// <summary>
    /// Gets a duration: a number and a lowercase unit, <c>ns</c>, <c>us</c>, <c>ms</c>, <c>s</c>, <c>m</c> (minutes) or
    /// <c>h</c> (<c>5ms</c>, <c>2s</c>, <c>1.5m</c>), or a bare number of milliseconds; from 0 to 24h.
    /// </summary>
    /// <exception cref="FormatException">Not such a duration, or out of range; one line naming the filter and the key.</exception>
    public TimeSpan GetDuration(string key, TimeSpan defaultValue)
    {
        if (!_values.TryGetValue(key, out string? text))
        {
            return defaultValue;
        }

        // Lowercase units only: M is not minutes (it is mega in sizes), MS not milliseconds.
        (string number, double scale) = text switch
        {
            _ when text.EndsWith("ns", StringComparison.Ordinal) => (text[..^2], 0.000001),
            _ when text.EndsWith("us", StringComparison.Ordinal) => (text[..^2], 0.001),
            _ when text.EndsWith("ms", StringComparison.Ordinal) => (text[..^2], 1.0),
            _ when text.EndsWith('s') => (text[..^1], 1000.0),
            _ when text.EndsWith('m') => (text[..^1], 60_000.0),
            _ when text.EndsWith('h') => (text[..^1], 3_600_000.0),
            _ => (text, 1.0),
        };

        // NaN and Infinity parse as doubles; neither is a duration.
        if (!double.TryParse(number, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent, CultureInfo.InvariantCulture, out double value) || !double.IsFinite(value) || value < 0)
        {
            throw new FormatException($"filter '{Filter}': {key}={text} is not a duration (e.g. 5ms, 2s; units ns, us, ms, s, m, h in lowercase; a bare number is milliseconds).");
        }

        double milliseconds = value * scale;
        if (milliseconds > MaxDurationMilliseconds)
        {
            throw new FormatException($"filter '{Filter}': {key}={text} is too long (at most 24h).");
        }

        return TimeSpan.FromMilliseconds(milliseconds);
    }

    /// <summary>Gets a size in bytes (K, M, G, T suffixes, powers of 1024).</summary>
    public long GetSize(string key, long defaultValue)
    {
        if (!_values.TryGetValue(key, out string? text))
        {
            return defaultValue;
        }

        try
        {
            return SizeParser.Parse(text);
        }
        catch (Exception ex) when (ex is FormatException or OverflowException or ArgumentException)
        {
            throw new FormatException($"filter '{Filter}': {key}={text} is not a size (such as 4096, 64K, 1G).", ex);
        }
    }

    /// <summary>Gets a whole number.</summary>
    public long GetInt64(string key, long defaultValue, long min, long max)
    {
        if (!_values.TryGetValue(key, out string? text))
        {
            return defaultValue;
        }

        if (!long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long value) || value < min || value > max)
        {
            throw new FormatException($"filter '{Filter}': {key}={text} must be a whole number from {min} to {max}.");
        }

        return value;
    }

    /// <summary>Gets a probability: <c>1%</c>, <c>0.5%</c> or a fraction <c>0.01</c>.</summary>
    public double GetProbability(string key, double defaultValue)
    {
        if (!_values.TryGetValue(key, out string? text))
        {
            return defaultValue;
        }

        bool percent = text.EndsWith('%');
        if (!double.TryParse(percent ? text[..^1] : text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value))
        {
            throw new FormatException($"filter '{Filter}': {key}={text} is not a rate (such as 1%, 0.5%, 0.01).");
        }

        value = percent ? value / 100 : value;
        return value is >= 0 and <= 1 ? value : throw new FormatException($"filter '{Filter}': {key}={text} must be from 0% to 100%.");
    }

    /// <summary>Gets one of <paramref name="choices"/>.</summary>
    public string GetChoice(string key, string defaultValue, params string[] choices)
    {
        if (!_values.TryGetValue(key, out string? text))
        {
            return defaultValue;
        }

        string lower = text.ToLowerInvariant();
        return Array.IndexOf(choices, lower) >= 0 ? lower : throw new FormatException($"filter '{Filter}': {key}={text} must be one of {string.Join(", ", choices)}.");
    }

    /// <summary>Gets a flag: 1/0, yes/no, true/false, on/off (<see cref="BooleanParser"/>).</summary>
    public bool GetBool(string key, bool defaultValue) =>
        _values.TryGetValue(key, out string? text) ? BooleanParser.Parse(text, $"filter '{Filter}': {key}") : defaultValue;
}
