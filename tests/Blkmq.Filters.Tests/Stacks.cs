using Blkmq.Drivers;
using Blkmq.Drivers.File;
using Blkmq.Drivers.Null;
using Blkmq.Filters;

namespace Blkmq.Filters.Tests;

/// <summary>Builds stacks over the real null, memory and file drivers, as the CLI does.</summary>
internal static class Stacks
{
    public static DriverRegistry Drivers { get; } = CreateDrivers();

    public static DriverInstance Create(string specification) => FilterStack.Create(Drivers, specification, new DriverCreateOptions { DiskName = "t" });

    public static byte[] Pattern(int length, int seed)
    {
        byte[] data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    private static DriverRegistry CreateDrivers()
    {
        var registry = new DriverRegistry();
        NullDriverProvider.Register(registry);
        FileDriverProvider.Register(registry);
        return registry;
    }
}
