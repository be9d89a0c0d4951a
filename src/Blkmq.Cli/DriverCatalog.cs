using Blkmq.Drivers;
using Blkmq.Drivers.File;
using Blkmq.Drivers.Null;
using Blkmq.Drivers.Rbd;
using Blkmq.Filters;

namespace Blkmq.Cli;

/// <summary>
/// The drivers <c>blkmq</c> knows: the one place that names driver projects, each of which adds its own drivers to
/// <see cref="Registry"/>. Commands pick drivers only by asking the registry.
/// </summary>
internal static class DriverCatalog
{
    /// <summary>Gets the registry, built once on first use.</summary>
    public static DriverRegistry Registry { get; } = CreateRegistry();

    /// <summary>Gets the driver <c>blkmq serve</c> exports when no <c>--export</c> is given: one that keeps data.</summary>
    public static string DefaultServeDriver => NullDriverProvider.MemoryName;

    /// <summary>Gets the driver <c>blkmq bench</c> measures when no <c>--driver</c> is given: the cheapest one.</summary>
    public static string DefaultBenchDriver => NullDriverProvider.NullName;

    /// <summary>
    /// Creates the disk of <c>DRIVER[:params]</c> or of a stack <c>DRIVER[:params]|FILTER[:params]|...</c>
    /// (<see cref="FilterStack"/>).
    /// </summary>
    /// <exception cref="FormatException">The driver, a filter or a parameter is unknown or does not parse.</exception>
    /// <exception cref="ArgumentException">A parameter is out of range.</exception>
    public static DriverInstance Create(string specification, DriverCreateOptions options) =>
        FilterStack.HasFilters(specification) ? FilterStack.Create(Registry, specification, options) : Registry.Create(specification, options);

    /// <summary>Checks <c>DRIVER[:params]</c> or a stack as <see cref="Create"/> would, creating nothing (no disk, no file).</summary>
    /// <exception cref="FormatException">The driver, a filter or a parameter is unknown or does not parse.</exception>
    /// <exception cref="ArgumentException">A parameter is out of range.</exception>
    public static void Check(string specification, DriverCreateOptions options)
    {
        if (FilterStack.HasFilters(specification))
        {
            FilterStack.Check(Registry, specification, options);
        }
        else
        {
            Registry.Check(specification, options);
        }
    }

    /// <summary>
    /// Creates the disk of one image file or block device by its path (<c>blkmq serve FILE</c>): the path goes to the file
    /// driver as it is, so it may hold any character, ',' '|' and '=' included, that a <c>file:path=</c> text cannot.
    /// </summary>
    /// <exception cref="IOException">The file cannot be opened, sized or locked.</exception>
    public static DriverInstance CreateImage(string path, DriverCreateOptions options) => FileDriverProvider.CreateForPath(path, options);

    /// <summary>
    /// After a start that failed once disks existed (a bad filter or job parameter, a mount point, a listener): removes
    /// the files the start created (<c>create=</c>) with <see cref="DriverInstance.RemoveCreatedFiles"/>, so that the
    /// refused command leaves nothing behind, and says so on stderr, one line per file. The instances must be disposed.
    /// </summary>
    /// <param name="command">The command, for the messages (<c>serve</c>, <c>bench</c>).</param>
    /// <param name="instances">The instances the start made.</param>
    public static void RemoveCreatedFiles(string command, IEnumerable<DriverInstance> instances)
    {
        foreach (DriverInstance instance in instances)
        {
            foreach ((string path, string? error) in instance.RemoveCreatedFiles())
            {
                Console.Error.WriteLine(error is null
                    ? $"blkmq {command}: removed {path}, which this failed start created."
                    : $"blkmq {command}: could not remove {path}, which this failed start created: {error}");
            }
        }
    }

    private static DriverRegistry CreateRegistry()
    {
        var registry = new DriverRegistry();
        NullDriverProvider.Register(registry);
        FileDriverProvider.Register(registry);
        RbdDriverProvider.Register(registry);
        return registry;
    }
}
