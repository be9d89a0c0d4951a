namespace Blkmq.Fuzz;

/// <summary>The harnesses, by name. Each is made on first use: a process fuzzes one target.</summary>
internal static class FuzzTargets
{
    /// <summary>Gets the names of every harness, in the order scripts/fuzz.sh runs them.</summary>
    public static IReadOnlyList<string> Names { get; } =
    [
        NbdHandshakeTarget.TargetName,
        NbdTransmissionTarget.TargetName,
        FuseRequestTarget.TargetName,
        ControlTarget.TargetName,
        ExportSpecTarget.TargetName,
        NullBlkParamsTarget.TargetName,
    ];

    /// <summary>Makes the harness called <paramref name="name"/>.</summary>
    /// <returns>The harness, or null for an unknown name.</returns>
    public static IFuzzTarget? Create(string name) => name switch
    {
        NbdHandshakeTarget.TargetName => new NbdHandshakeTarget(),
        NbdTransmissionTarget.TargetName => new NbdTransmissionTarget(),
        FuseRequestTarget.TargetName => new FuseRequestTarget(),
        ControlTarget.TargetName => new ControlTarget(),
        ExportSpecTarget.TargetName => new ExportSpecTarget(),
        NullBlkParamsTarget.TargetName => new NullBlkParamsTarget(),
        _ => null,
    };
}
