using Blkmq.Drivers;
using Blkmq.Drivers.File;
using Blkmq.Drivers.Null;
using Blkmq.Drivers.Rbd;

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

    private static DriverRegistry CreateRegistry()
    {
        var registry = new DriverRegistry();
        NullDriverProvider.Register(registry);
        FileDriverProvider.Register(registry);
        RbdDriverProvider.Register(registry);
        return registry;
    }
}
