namespace Blkmq.Filters;

/// <summary>Exposes the disk below read-only: writes, discards and write zeroes fail with EPERM (nbdkit's readonly behaviour of <c>-r</c>).</summary>
internal sealed class ReadOnlyFilter : BlockFilter
{
    /// <inheritdoc/>
    public override string Name => "readonly";

    /// <inheritdoc/>
    public override bool SupportsZoned => true;

    /// <inheritdoc/>
    public override DiskOptions Shape(Disk lower, string name) => PassThroughShape(lower, name) with { ReadOnly = true };

    /// <inheritdoc/>
    public override StackedDiskOptions GetStackedMapping(Disk lower) => new() { RefuseWrites = true };
}
