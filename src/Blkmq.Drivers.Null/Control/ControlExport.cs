using System.Diagnostics.CodeAnalysis;
using Blkmq.Drivers;

namespace Blkmq.Drivers.Null.Control;

/// <summary>An export as the control protocol sees it: its name (the command argument) and the null block device behind its disk.</summary>
/// <param name="Name">The export's name, used as the command argument.</param>
/// <param name="Device">The device whose disk the export serves; the caller's, not disposed here.</param>
public sealed record ControlExport(string Name, NullDevice Device)
{
    /// <summary>Makes the export of a driver instance the control protocol can change: one the null driver created.</summary>
    /// <param name="name">The export's name.</param>
    /// <param name="instance">The instance whose first disk the export serves.</param>
    /// <param name="export">The export (its device: the instance's first), or <see langword="null"/> when another driver made the instance.</param>
    /// <returns><see langword="true"/> when the null driver made <paramref name="instance"/>.</returns>
    public static bool TryCreate(string name, DriverInstance instance, [NotNullWhen(true)] out ControlExport? export)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(instance);
        export = instance.Owner is NullBlock { Devices: [NullDevice device, ..] } ? new ControlExport(name, device) : null;
        return export is not null;
    }
}
