using System.Diagnostics.Metrics;

namespace Blkmq.Metrics;

/// <summary>
/// Blkmq's one <see cref="Meter"/>, named <see cref="Name"/>: the disks' instruments (<c>blkmq.disk.*</c>,
/// <c>blkmq.request.duration</c>) and the front ends' (<c>blkmq.frontend.*</c>). Subscribe by that name
/// (OpenTelemetry's <c>AddMeter("Blkmq")</c>, a <see cref="MeterListener"/>, <c>dotnet-counters</c>).
/// </summary>
public static class BlkmqMeter
{
    /// <summary>The meter's name.</summary>
    public const string Name = "Blkmq";

    /// <summary>
    /// Gets or sets which IOs the latency histogram <c>blkmq.request.duration</c> records while a listener has it
    /// enabled: <see cref="Metrics.LatencySampling.Sampled"/> (the default) or every one. A disk takes the value in
    /// force when it is made.
    /// </summary>
    public static LatencySampling LatencySampling { get; set; } = LatencySampling.Sampled;

    /// <summary>Gets the meter every Blkmq instrument belongs to.</summary>
    internal static Meter Meter { get; } = new(Name, typeof(BlkmqMeter).Assembly.GetName().Version?.ToString());
}
