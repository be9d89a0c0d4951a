using System.Reflection;

namespace Blkmq;

/// <summary>
/// Which optional members of <see cref="IBlockDriver{TRequestData, THwQueueData, TDiskData}"/> a driver
/// implements, found once by reflection on the interface map. The flags are <see langword="static readonly"/>
/// in a generic class, so the JIT treats them as constants per driver and drops the untaken branches.
/// </summary>
internal static class DriverTraits<TDriver, TData, THw, TDisk>
    where TDriver : struct, IBlockDriver<TData, THw, TDisk>
{
    public static readonly bool HasCommitRqs = Implements(nameof(IBlockDriver<,,>.CommitRqs));
    public static readonly bool HasComplete = Implements(nameof(IBlockDriver<,,>.Complete));
    public static readonly bool HasExitHctx = Implements(nameof(IBlockDriver<,,>.ExitHctx));
    public static readonly bool HasExitRequest = Implements(nameof(IBlockDriver<,,>.ExitRequest));
    public static readonly bool HasPoll = Implements(nameof(IBlockDriver<,,>.Poll));
    public static readonly bool HasTimeout = Implements(nameof(IBlockDriver<,,>.Timeout));
    public static readonly bool HasMapQueues = Implements(nameof(IBlockDriver<,,>.MapQueues));
    public static readonly bool ConcurrentQueueRq = TDriver.ConcurrentQueueRq;

    /// <summary>Refuses a driver that declares concurrent dispatch yet passes mutable struct data by reference.</summary>
    /// <returns>Why the driver is refused, or <see langword="null"/>.</returns>
    public static string? FindConcurrencyConflict()
    {
        Type data = typeof(THw);
        if (ConcurrentQueueRq && data.IsValueType && !data.IsDefined(typeof(System.Runtime.CompilerServices.IsReadOnlyAttribute), inherit: false))
        {
            return $"{typeof(TDriver).Name} declares ConcurrentQueueRq, so its hardware-queue data {data.Name} is shared by concurrent QueueRq calls: make it a class or a readonly struct.";
        }

        return null;
    }

    /// <summary>
    /// Refuses a driver with a public method named like an optional member whose signature does not match the
    /// interface: it compiles, but the default body would run instead, silently.
    /// </summary>
    /// <returns>Why the driver is refused, or <see langword="null"/>.</returns>
    public static string? FindSignatureDrift()
    {
        string[] optional =
        [
            nameof(IBlockDriver<,,>.CommitRqs), nameof(IBlockDriver<,,>.Complete), nameof(IBlockDriver<,,>.ExitHctx),
            nameof(IBlockDriver<,,>.ExitRequest), nameof(IBlockDriver<,,>.Poll), nameof(IBlockDriver<,,>.Timeout),
            nameof(IBlockDriver<,,>.MapQueues),
        ];
        foreach (string name in optional)
        {
            if (!Implements(name) && typeof(TDriver).GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.DeclaredOnly).Any(m => m.Name == name))
            {
                return $"{typeof(TDriver).Name}.{name} does not match the signature in IBlockDriver, so the block layer would never call it.";
            }
        }

        return null;
    }

    private static bool Implements(string name)
    {
        InterfaceMapping map = typeof(TDriver).GetInterfaceMap(typeof(IBlockDriver<TData, THw, TDisk>));
        for (int i = 0; i < map.InterfaceMethods.Length; i++)
        {
            if (map.InterfaceMethods[i].Name == name)
            {
                // A default interface method maps to itself; a driver's own body is declared on the driver.
                return map.TargetMethods[i].DeclaringType == typeof(TDriver);
            }
        }

        return false;
    }
}
