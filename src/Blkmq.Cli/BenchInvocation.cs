using Blkmq.Bench;

namespace Blkmq.Cli;

/// <summary>A <c>blkmq bench</c> run as parsed and checked: the load for the engine and what the report needs.</summary>
internal sealed record BenchInvocation
{
    /// <summary>Gets the load.</summary>
    public required BenchSettings Settings { get; init; }

    /// <summary>Gets the name of the driver whose disk is measured.</summary>
    public string DriverName { get; init; } = string.Empty;

    /// <summary>Gets the driver's effective parameters in its own <c>key=value,...</c> notation.</summary>
    public string DriverParameters { get; init; } = string.Empty;

    /// <summary>Gets the report format.</summary>
    public OutputFormat Format { get; init; } = OutputFormat.Normal;

    /// <summary>Gets the SVG file to plot into, if any.</summary>
    public string? PlotPath { get; init; }
}
