using System.Diagnostics.CodeAnalysis;

namespace Blkmq.Drivers;

/// <summary>
/// The drivers a host can create disks with, by name. Driver projects add theirs explicitly (for the null driver
/// <c>NullDriverProvider.Register(registry)</c>); the host builds one registry at start-up and only asks it, so it names
/// no driver itself. Not thread-safe while drivers are being added; safe to read from any thread afterwards.
/// </summary>
public sealed class DriverRegistry
{
    private readonly SortedDictionary<string, DriverDescriptor> _drivers = new(StringComparer.Ordinal);

    /// <summary>Gets the drivers, sorted by name.</summary>
    public IReadOnlyCollection<DriverDescriptor> Drivers => _drivers.Values;

    /// <summary>Gets the names of the drivers, sorted, separated by ", " (for messages).</summary>
    public string KnownNames => string.Join(", ", _drivers.Keys);

    /// <summary>Adds a driver.</summary>
    /// <param name="driver">The driver.</param>
    /// <exception cref="ArgumentException">A driver of that name is already registered.</exception>
    public void Add(DriverDescriptor driver)
    {
        ArgumentNullException.ThrowIfNull(driver);
        if (!_drivers.TryAdd(driver.Name, driver))
        {
            throw new ArgumentException($"A driver named '{driver.Name}' is already registered.", nameof(driver));
        }
    }

    /// <summary>Looks a driver up by name, ignoring case.</summary>
    /// <param name="name">The name.</param>
    /// <param name="driver">The driver, or <see langword="null"/>.</param>
    /// <returns><see langword="true"/> when a driver of that name is registered.</returns>
    public bool TryGet(string name, [NotNullWhen(true)] out DriverDescriptor? driver)
    {
        ArgumentNullException.ThrowIfNull(name);
        return _drivers.TryGetValue(name.Trim().ToLowerInvariant(), out driver);
    }

    /// <summary>Gets a driver by name, ignoring case.</summary>
    /// <param name="name">The name.</param>
    /// <returns>The driver.</returns>
    /// <exception cref="FormatException">No driver has that name; the message lists the known ones.</exception>
    public DriverDescriptor Get(string name) =>
        TryGet(name, out DriverDescriptor? driver)
            ? driver
            : throw new FormatException($"unknown driver '{name}' (known: {KnownNames}; see 'blkmq drivers').");

    /// <summary>
    /// Creates disks from a driver specification <c>DRIVER[:key=value,...]</c>, such as <c>memory:size=64M</c>.
    /// </summary>
    /// <param name="specification">The driver's name, then optionally ':' and its parameters.</param>
    /// <param name="options">What the host asks beyond the parameters, or <see langword="null"/>.</param>
    /// <returns>The disks and their owner; the caller disposes it.</returns>
    /// <exception cref="FormatException">The driver is unknown or its parameters do not parse.</exception>
    /// <exception cref="ArgumentException">A parameter is out of range.</exception>
    public DriverInstance Create(string specification, DriverCreateOptions? options = null)
    {
        (string name, string parameters) = SplitSpecification(specification);
        return Get(name).Create(parameters, options);
    }

    /// <summary>
    /// Checks a driver specification <c>DRIVER[:key=value,...]</c> as <see cref="Create"/> would, without creating anything.
    /// </summary>
    /// <param name="specification">The driver's name, then optionally ':' and its parameters.</param>
    /// <param name="options">What the host will ask beyond the parameters, or <see langword="null"/>.</param>
    /// <exception cref="FormatException">The driver is unknown or its parameters do not parse.</exception>
    /// <exception cref="ArgumentException">A parameter is out of range.</exception>
    public void Check(string specification, DriverCreateOptions? options = null)
    {
        (string name, string parameters) = SplitSpecification(specification);
        Get(name).Check(parameters, options);
    }

    /// <summary>Splits <c>DRIVER[:key=value,...]</c> into the driver's name and its parameter text (empty when there is none).</summary>
    /// <param name="specification">The specification.</param>
    /// <returns>The name, trimmed, and the parameters.</returns>
    public static (string Driver, string Parameters) SplitSpecification(string specification)
    {
        ArgumentNullException.ThrowIfNull(specification);
        int colon = specification.IndexOf(':', StringComparison.Ordinal);
        return colon < 0
            ? (specification.Trim(), string.Empty)
            : (specification[..colon].Trim(), specification[(colon + 1)..]);
    }
}
