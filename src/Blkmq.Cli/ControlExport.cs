using Blkmq.Drivers.Null;

namespace Blkmq.Cli;

/// <summary>An export as the control socket sees it: its NBD name and the null block device behind its disk.</summary>
/// <param name="Name">The NBD export name, used as the command argument.</param>
/// <param name="Device">The device whose disk the export serves; the caller's, not disposed here.</param>
internal sealed record ControlExport(string Name, NullDevice Device);
