using System.Globalization;
using Blkmq.Drivers;

namespace Blkmq.Filters;

/// <summary>
/// Builds a stack <c>DRIVER[:params]|FILTER[:params]|...</c>: the driver's disk at the bottom, each filter over the one
/// before it, left to right from the driver up to the client (<c>file:path=base.img|cow|delay:write=5ms</c>). A bad
/// stack is refused before anything is created, with a one-line message.
/// </summary>
public static class FilterStack
{
    /// <summary>The character between the layers of a stack.</summary>
    public const char Separator = '|';

    /// <summary>Gets whether <paramref name="specification"/> has filters.</summary>
    /// <param name="specification">A driver specification, possibly with filters.</param>
    /// <returns>Whether it holds <see cref="Separator"/>.</returns>
    public static bool HasFilters(string specification)
    {
        ArgumentNullException.ThrowIfNull(specification);
        return specification.Contains(Separator, StringComparison.Ordinal);
    }

    /// <summary>Splits a stack into its driver specification and its filter specifications, bottom first.</summary>
    /// <param name="specification">The stack.</param>
    /// <returns>The driver part and the filter parts.</returns>
    /// <exception cref="FormatException">A layer is empty.</exception>
    public static (string Driver, string[] Filters) Split(string specification)
    {
        ArgumentNullException.ThrowIfNull(specification);
        string[] parts = specification.Split(Separator);
        for (int i = 0; i < parts.Length; i++)
        {
            if (string.IsNullOrWhiteSpace(parts[i]))
            {
                throw new FormatException(i == 0
                    ? $"stack '{specification}': it must start with a driver (DRIVER[:params]|FILTER[:params]|...)."
                    : $"stack '{specification}': empty filter after '|' number {i}.");
            }
        }

        return (parts[0], parts[1..]);
    }

    /// <summary>Creates the disks of a stack.</summary>
    /// <param name="drivers">The drivers the bottom may name.</param>
    /// <param name="specification"><c>DRIVER[:params]|FILTER[:params]|...</c>; without filters, just the driver.</param>
    /// <param name="options">What the host asks of the driver.</param>
    /// <returns>The top disk and its owner, which owns the whole stack.</returns>
    /// <exception cref="FormatException">The stack, a driver or a filter does not parse, or a filter is unknown.</exception>
    /// <exception cref="ArgumentException">A value is out of range or a filter cannot go over the disk below.</exception>
    public static DriverInstance Create(DriverRegistry drivers, string specification, DriverCreateOptions? options = null)
    {
        (DriverDescriptor descriptor, string driverText, List<(FilterDescriptor, FilterArguments)> parsed) = ParseStack(drivers, specification);
        DriverInstance instance = descriptor.Create(driverText, options);
        return Apply(instance, parsed);
    }

    /// <summary>
    /// Checks a stack as <see cref="Create"/> would, without creating anything: the driver and every filter are known and
    /// their parameters parse and are in range (what a filter can only check against the disk below is left to
    /// <see cref="Create"/>).
    /// </summary>
    /// <param name="drivers">The drivers the bottom may name.</param>
    /// <param name="specification"><c>DRIVER[:params]|FILTER[:params]|...</c>; without filters, just the driver.</param>
    /// <param name="options">What the host will ask of the driver.</param>
    /// <exception cref="FormatException">The stack, a driver or a filter does not parse, or a filter is unknown.</exception>
    /// <exception cref="ArgumentException">A value is out of range.</exception>
    public static void Check(DriverRegistry drivers, string specification, DriverCreateOptions? options = null)
    {
        (DriverDescriptor descriptor, string driverText, _) = ParseStack(drivers, specification);
        descriptor.Check(driverText, options);
    }

    /// <summary>Puts filters over an instance's first disk (a benchmark creates its driver itself, then filters it).</summary>
    /// <param name="lower">The instance below; owned by the result from now on (disposed on failure, the files it created removed).</param>
    /// <param name="filters">The filter specifications, bottom first.</param>
    /// <returns>The top disk and its owner.</returns>
    /// <exception cref="FormatException">A filter is unknown or its parameters do not parse.</exception>
    /// <exception cref="ArgumentException">A value is out of range or a filter cannot go over the disk below.</exception>
    public static DriverInstance Apply(DriverInstance lower, IReadOnlyList<string> filters)
    {
        ArgumentNullException.ThrowIfNull(lower);
        ArgumentNullException.ThrowIfNull(filters);
        List<(FilterDescriptor, FilterArguments)> parsed;
        try
        {
            parsed = Parse(filters);
        }
        catch
        {
            // As below: the stack never reaches its host, so not even a file create= made may stay behind.
            lower.DisposeAsync().AsTask().GetAwaiter().GetResult();
            _ = lower.RemoveCreatedFiles(); // best effort: the error being thrown says why the stack failed
            throw;
        }

        return Apply(lower, parsed);
    }

    /// <summary>
    /// What the filters of a stack have to report (statistics), top first. With two or more reports in one stack
    /// (<c>memory|stats|cow|stats</c>) each starts with its place, <c>filter N:</c>, counted from the driver as the
    /// stack is written, or the two would read the same.
    /// </summary>
    /// <param name="instance">The stack's top instance.</param>
    /// <returns>The reports, each maybe several lines.</returns>
    internal static List<string> Reports(DriverInstance instance)
    {
        List<BlockFilter> filters = [.. FindFilters(instance)];
        var reports = new List<(int Place, string Text)>();
        for (int i = 0; i < filters.Count; i++)
        {
            if (filters[i].Report() is { } report)
            {
                reports.Add((filters.Count - i, report));
            }
        }

        return reports.Count > 1
            ? reports.ConvertAll(static r => string.Create(CultureInfo.InvariantCulture, $"filter {r.Place}: {r.Text}"))
            : reports.ConvertAll(static r => r.Text);
    }

    /// <summary>The instance at the bottom of a stack, under every filter: the driver's own (the instance itself without filters).</summary>
    /// <param name="instance">The stack's top instance.</param>
    /// <returns>The driver's instance.</returns>
    internal static DriverInstance Driver(DriverInstance instance)
    {
        DriverInstance current = instance;
        while (current.Owner is FilterBlock block)
        {
            current = block.Lower;
        }

        return current;
    }

    /// <summary>Finds the filters of a stack, top first.</summary>
    /// <param name="instance">The stack's instance.</param>
    /// <returns>The filters, top first.</returns>
    internal static IEnumerable<BlockFilter> FindFilters(DriverInstance instance)
    {
        DriverInstance? current = instance;
        while (current?.Owner is FilterBlock block)
        {
            yield return block.Filter;
            current = block.Lower;
        }
    }

    private static (DriverDescriptor Driver, string DriverText, List<(FilterDescriptor, FilterArguments)> Filters) ParseStack(DriverRegistry drivers, string specification)
    {
        ArgumentNullException.ThrowIfNull(drivers);
        (string driver, string[] filters) = Split(specification);
        (string driverName, string driverText) = DriverRegistry.SplitSpecification(driver);
        if (!drivers.TryGet(driverName, out DriverDescriptor? descriptor))
        {
            throw FilterRegistry.Default.TryGet(driverName, out _)
                ? new FormatException($"stack '{specification}': '{driverName}' is a filter; a stack starts with a driver ({drivers.KnownNames}) and filters follow '|'.")
                : new FormatException($"unknown driver '{driverName}' (known: {drivers.KnownNames}; see 'blkmq drivers').");
        }

        List<(FilterDescriptor, FilterArguments)> parsed = Parse(filters);

        // cow never writes below: open a base that can be opened read-only that way (nbdkit's cow does the same) -- but
        // not one the driver is asked to create (create=), which it could not make read-only.
        if (parsed.Exists(static f => f.Item1.Name == "cow") && descriptor.HasParameter("readonly") && !driverText.Contains("readonly", StringComparison.Ordinal)
            && !("," + driverText).Contains(",create=", StringComparison.Ordinal))
        {
            driverText = driverText.Length == 0 ? "readonly=1" : driverText + ",readonly=1";
        }

        return (descriptor, driverText, parsed);
    }

    private static List<(FilterDescriptor, FilterArguments)> Parse(IReadOnlyList<string> filters)
    {
        var parsed = new List<(FilterDescriptor, FilterArguments)>(filters.Count);
        foreach (string filter in filters)
        {
            (string name, string text) = DriverRegistry.SplitSpecification(filter);
            if (!FilterRegistry.Default.TryGet(name, out FilterDescriptor? descriptor))
            {
                throw new FormatException($"unknown filter '{name}' (known: {FilterRegistry.Default.KnownNames}; see 'blkmq drivers').");
            }

            parsed.Add((descriptor, FilterArguments.Parse(descriptor, text)));
        }

        return parsed;
    }

    private static DriverInstance Apply(DriverInstance instance, List<(FilterDescriptor Descriptor, FilterArguments Arguments)> parsed)
    {
        foreach ((FilterDescriptor descriptor, FilterArguments arguments) in parsed)
        {
            FilterBlock block;
            try
            {
                BlockFilter filter = descriptor.Create(arguments, instance.Disk);
                try
                {
                    block = FilterBlock.Create(filter, instance);
                }
                catch
                {
                    filter.Dispose();
                    throw;
                }
            }
            catch
            {
                // The stack never reaches its host: nothing of it may stay behind, not even a file create= made.
                instance.DisposeAsync().AsTask().GetAwaiter().GetResult();
                _ = instance.RemoveCreatedFiles(); // best effort: the error being thrown says why the stack failed
                throw;
            }

            string parameters = block.Filter.Parameters;
            instance = new DriverInstance
            {
                DriverName = instance.DriverName + Separator + descriptor.Name,
                Disks = [block.Disk],
                Owner = block,
                Summary = instance.Summary + " | " + descriptor.Name + (parameters.Length == 0 ? string.Empty : ":" + parameters),
                Parameters = instance.Parameters + Separator + descriptor.Name + (parameters.Length == 0 ? string.Empty : ":" + parameters),
                CompletionDelay = instance.CompletionDelay + block.Filter.CompletionDelay,
                CreatedFiles = instance.CreatedFiles,
            };
        }

        return instance;
    }
}
