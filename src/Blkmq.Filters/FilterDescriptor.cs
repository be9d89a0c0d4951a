using Blkmq.Drivers;

namespace Blkmq.Filters;

/// <summary>A filter as a stack names it: its name, what it does, its parameters and its factory.</summary>
public sealed class FilterDescriptor
{
    private readonly Func<FilterArguments, Disk, BlockFilter> _create;

    internal FilterDescriptor(string name, string description, IReadOnlyList<DriverParameter> parameters, Func<FilterArguments, Disk, BlockFilter> create)
    {
        Name = name;
        Description = description;
        Parameters = parameters;
        _create = create;
    }

    /// <summary>Gets the name a stack picks the filter by.</summary>
    public string Name { get; }

    /// <summary>Gets what the filter does, in one line.</summary>
    public string Description { get; }

    /// <summary>Gets the parameters the filter accepts.</summary>
    public IReadOnlyList<DriverParameter> Parameters { get; }

    /// <summary>Gets whether the filter accepts a parameter of that name.</summary>
    /// <param name="name">The key.</param>
    /// <returns><see langword="true"/> when <see cref="Parameters"/> lists it.</returns>
    public bool HasParameter(string name) => Parameters.Any(p => string.Equals(p.Name, name, StringComparison.Ordinal));

    /// <inheritdoc/>
    public override string ToString() => Name;

    internal BlockFilter Create(FilterArguments arguments, Disk lower) => _create(arguments, lower);
}
