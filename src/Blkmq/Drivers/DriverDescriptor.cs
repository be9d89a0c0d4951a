namespace Blkmq.Drivers;

/// <summary>
/// A driver as a host picks it by name: its name, what it is, the parameters its <c>key=value,...</c> text takes,
/// and the factory that parses such a text and creates the disks. Each driver project makes its own descriptors and
/// adds them to a <see cref="DriverRegistry"/>.
/// </summary>
public sealed class DriverDescriptor
{
    private readonly Func<string, DriverCreateOptions, DriverInstance> _create;
    private readonly Action<string, DriverCreateOptions>? _check;
    private readonly Func<string, DriverCreateOptions, IReadOnlyList<string>>? _diskNames;

    /// <summary>Initializes a new instance of the <see cref="DriverDescriptor"/> class.</summary>
    /// <param name="name">The name hosts pick the driver by: lowercase letters, digits, '-' and '_'.</param>
    /// <param name="description">What the driver is, in one line.</param>
    /// <param name="parameters">The parameters the factory accepts, in the order to list them.</param>
    /// <param name="create">
    /// Parses the parameter text (possibly empty) and creates the disks; throws <see cref="FormatException"/> for a
    /// text that does not parse (an unknown key, a bad value) and <see cref="ArgumentException"/> for values out of range.
    /// </param>
    /// <param name="check">
    /// Parses and checks the parameter text as <paramref name="create"/> would, without creating anything (no file, no
    /// connection), throwing the same exceptions; <see langword="null"/> when the driver cannot check before creating.
    /// </param>
    /// <param name="diskNames">
    /// Parses the parameter text as <paramref name="create"/> would and returns the names of the disks it would make,
    /// creating nothing, so that a host can refuse two disks of one name before it creates any; <see langword="null"/>
    /// when the driver cannot tell.
    /// </param>
    /// <exception cref="ArgumentException"><paramref name="name"/> is empty or has other characters.</exception>
    public DriverDescriptor(string name, string description, IReadOnlyList<DriverParameter> parameters, Func<string, DriverCreateOptions, DriverInstance> create, Action<string, DriverCreateOptions>? check = null, Func<string, DriverCreateOptions, IReadOnlyList<string>>? diskNames = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(description);
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(create);
        foreach (char c in name)
        {
            if (!(char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '-' or '_'))
            {
                throw new ArgumentException($"Driver name '{name}' may hold only lowercase letters, digits, '-' and '_'.", nameof(name));
            }
        }

        Name = name;
        Description = description;
        Parameters = parameters;
        _create = create;
        _check = check;
        _diskNames = diskNames;
    }

    /// <summary>Gets the name hosts pick the driver by.</summary>
    public string Name { get; }

    /// <summary>Gets what the driver is, in one line.</summary>
    public string Description { get; }

    /// <summary>Gets the parameters the driver's text accepts.</summary>
    public IReadOnlyList<DriverParameter> Parameters { get; }

    /// <summary>Parses <paramref name="parameters"/> and creates the disks they describe.</summary>
    /// <param name="parameters">The driver's <c>key=value,...</c> text; empty for every default.</param>
    /// <param name="options">What the host asks beyond the parameters, or <see langword="null"/> for nothing.</param>
    /// <returns>The disks and their owner; the caller disposes it.</returns>
    /// <exception cref="FormatException">The text does not parse; the message names the parameter.</exception>
    /// <exception cref="ArgumentException">A value is out of range; the message says which.</exception>
    public DriverInstance Create(string parameters, DriverCreateOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        options ??= new DriverCreateOptions();
        return _create(WithHostOptions(parameters, options), options);
    }

    /// <summary>
    /// Parses and checks <paramref name="parameters"/> without creating anything, so that a host can refuse a bad command
    /// line before it creates any disk (and any file a disk would create).
    /// </summary>
    /// <param name="parameters">The driver's <c>key=value,...</c> text; empty for every default.</param>
    /// <param name="options">What the host will ask beyond the parameters, or <see langword="null"/> for nothing.</param>
    /// <exception cref="FormatException">The text does not parse; the message names the parameter.</exception>
    /// <exception cref="ArgumentException">A value is out of range; the message says which.</exception>
    public void Check(string parameters, DriverCreateOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        options ??= new DriverCreateOptions();
        _check?.Invoke(WithHostOptions(parameters, options), options);
    }

    /// <summary>
    /// Gets the names of the disks <see cref="Create"/> would make from <paramref name="parameters"/>, without creating
    /// anything, so that a host serving several instances can refuse two disks of one name before it creates any.
    /// </summary>
    /// <param name="parameters">The driver's <c>key=value,...</c> text; empty for every default.</param>
    /// <param name="options">What the host will ask beyond the parameters, or <see langword="null"/> for nothing.</param>
    /// <returns>The names, first disk first; empty when the driver cannot tell.</returns>
    /// <exception cref="FormatException">The text does not parse; the message names the parameter.</exception>
    public IReadOnlyList<string> DiskNames(string parameters, DriverCreateOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        options ??= new DriverCreateOptions();
        return _diskNames?.Invoke(WithHostOptions(parameters, options), options) ?? [];
    }

    /// <summary>Gets whether the driver accepts a parameter of that name.</summary>
    /// <param name="name">The key.</param>
    /// <returns><see langword="true"/> when <see cref="Parameters"/> lists it.</returns>
    public bool HasParameter(string name)
    {
        foreach (DriverParameter parameter in Parameters)
        {
            if (string.Equals(parameter.Name, name, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    /// <inheritdoc/>
    public override string ToString() => Name;

    /// <summary>
    /// The parameter text with what the host asks that the driver takes as a parameter: <c>readonly=1</c> last (so that
    /// it wins) for a host that serves read-only (<see cref="DriverCreateOptions.ReadOnly"/>), when the driver has
    /// <c>readonly</c>.
    /// </summary>
    private string WithHostOptions(string parameters, DriverCreateOptions options) =>
        !options.ReadOnly || !HasParameter("readonly") ? parameters
        : parameters.Trim().Length == 0 ? "readonly=1"
        : parameters + ",readonly=1";
}
