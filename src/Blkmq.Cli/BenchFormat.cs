using System.Globalization;

namespace Blkmq.Cli;

/// <summary>Number formats for reports: counts with SI suffixes, latencies in the unit that fits, sizes in K/M/G.</summary>
internal static class BenchFormat
{
    public static string Count(double value) => value switch
    {
        >= 1e9 => string.Create(CultureInfo.InvariantCulture, $"{value / 1e9:F2}G"),
        >= 1e6 => string.Create(CultureInfo.InvariantCulture, $"{value / 1e6:F2}M"),
        >= 1e4 => string.Create(CultureInfo.InvariantCulture, $"{value / 1e3:F1}k"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{value:F0}"),
    };

    public static string Latency(double nanoseconds) => nanoseconds switch
    {
        >= 1e9 => string.Create(CultureInfo.InvariantCulture, $"{nanoseconds / 1e9:F2} s"),
        >= 1e6 => string.Create(CultureInfo.InvariantCulture, $"{nanoseconds / 1e6:F2} ms"),
        >= 1e4 => string.Create(CultureInfo.InvariantCulture, $"{nanoseconds / 1e3:F1} µs"),
        >= 1e3 => string.Create(CultureInfo.InvariantCulture, $"{nanoseconds / 1e3:F2} µs"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{nanoseconds:F0} ns"),
    };

    public static string Size(long bytes) => bytes switch
    {
        _ when bytes >= 1L << 40 && bytes % (1L << 40) == 0 => string.Create(CultureInfo.InvariantCulture, $"{bytes >> 40}T"),
        _ when bytes >= 1L << 30 && bytes % (1L << 30) == 0 => string.Create(CultureInfo.InvariantCulture, $"{bytes >> 30}G"),
        _ when bytes >= 1L << 20 && bytes % (1L << 20) == 0 => string.Create(CultureInfo.InvariantCulture, $"{bytes >> 20}M"),
        _ when bytes >= 1L << 10 && bytes % (1L << 10) == 0 => string.Create(CultureInfo.InvariantCulture, $"{bytes >> 10}K"),
        _ => bytes.ToString(CultureInfo.InvariantCulture),
    };

    public static string Fixed(double value, int decimals) => value.ToString("F" + decimals.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
}
