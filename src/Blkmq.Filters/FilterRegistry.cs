using System.Diagnostics.CodeAnalysis;

namespace Blkmq.Filters;

/// <summary>The filters a stack can name (cow, delay, error, ...), by name.</summary>
public sealed class FilterRegistry
{
    private readonly SortedDictionary<string, FilterDescriptor> _filters = new(StringComparer.Ordinal);

    private FilterRegistry()
    {
    }

    /// <summary>Gets the registry of every filter this project has.</summary>
    public static FilterRegistry Default { get; } = CreateDefault();

    /// <summary>Gets the filters, sorted by name.</summary>
    public IReadOnlyCollection<FilterDescriptor> Filters => _filters.Values;

    /// <summary>Gets the names of the filters, sorted, separated by ", ".</summary>
    public string KnownNames => string.Join(", ", _filters.Keys);

    /// <summary>Looks a filter up by name, ignoring case.</summary>
    /// <param name="name">The name.</param>
    /// <param name="filter">The filter, or <see langword="null"/>.</param>
    /// <returns>Whether one has that name.</returns>
    public bool TryGet(string name, [NotNullWhen(true)] out FilterDescriptor? filter)
    {
        ArgumentNullException.ThrowIfNull(name);
        return _filters.TryGetValue(name.Trim().ToLowerInvariant(), out filter);
    }

    private static FilterRegistry CreateDefault()
    {
        var registry = new FilterRegistry();
        foreach (FilterDescriptor filter in BuiltInFilters.All)
        {
            registry._filters.Add(filter.Name, filter);
        }

        return registry;
    }
}
