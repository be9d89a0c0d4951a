using System.Globalization;

namespace Blkmq.Emulation;

/// <summary>
/// A fault injection setting in the kernel's <c>fault_attr</c> format, <c>interval,probability,space,times</c>
/// (<c>Documentation/fault-injection/fault-injection.rst</c>), as null_blk's <c>timeout</c>, <c>requeue</c> and
/// <c>init_hctx</c> parameters take it. Each call that may fail is decided as the kernel's <c>should_fail</c>
/// with a size of 1: nothing fails while <see cref="Times"/> is 0; while <see cref="Space"/> is above 1 a call
/// only lowers it by one; then only every <see cref="Interval"/>-th call may fail, and it does with
/// <see cref="Probability"/> percent; every failure lowers <see cref="Times"/> unless it is -1.
/// </summary>
public sealed record FaultAttribute
{
    /// <summary>Gets the interval: only every interval-th eligible call may fail (0 and 1 mean every call). Default 1.</summary>
    public long Interval { get; init; } = 1;

    /// <summary>Gets the probability of failure in percent, 0 to 100; 0 disables the fault. Default 100.</summary>
    public int Probability { get; init; } = 100;

    /// <summary>Gets the space: the first space - 1 calls never fail (the kernel counts bytes; null_blk passes 1 per call). Default 0.</summary>
    public long Space { get; init; }

    /// <summary>Gets how many failures to inject in all; -1 for no limit. Default 1.</summary>
    public int Times { get; init; } = 1;

    /// <summary>Parses <c>interval,probability,space,times</c> (':' and ';' also separate the numbers).</summary>
    /// <param name="text">For example <c>1,100,0,-1</c>: every call fails.</param>
    /// <returns>The setting.</returns>
    /// <exception cref="FormatException">Not four integers.</exception>
    public static FaultAttribute Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string[] parts = text.Split([',', ':', ';'], StringSplitOptions.TrimEntries);
        if (parts.Length != 4
            || !long.TryParse(parts[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out long interval)
            || !int.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out int probability)
            || !long.TryParse(parts[2], NumberStyles.Integer, CultureInfo.InvariantCulture, out long space)
            || !int.TryParse(parts[3], NumberStyles.Integer, CultureInfo.InvariantCulture, out int times))
        {
            throw new FormatException($"'{text}' is not a fault attribute: interval,probability,space,times (four integers, for example 1,100,0,-1).");
        }

        return new FaultAttribute { Interval = interval, Probability = probability, Space = space, Times = times };
    }

    /// <summary>Checks every value and throws an <see cref="ArgumentException"/> naming the first wrong one.</summary>
    /// <param name="parameter">The null_blk parameter the setting belongs to, for the message.</param>
    public void Validate(string parameter)
    {
        if (Interval < 0 || Space < 0)
        {
            throw new ArgumentOutOfRangeException(parameter, ToString(), $"{parameter}: interval and space must not be negative.");
        }

        if (Probability is < 0 or > 100)
        {
            throw new ArgumentOutOfRangeException(parameter, ToString(), $"{parameter}: probability must be 0 to 100 (percent).");
        }

        if (Times < -1)
        {
            throw new ArgumentOutOfRangeException(parameter, ToString(), $"{parameter}: times must be -1 (no limit) or more.");
        }
    }

    /// <inheritdoc/>
    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"{Interval},{Probability},{Space},{Times}");
}
