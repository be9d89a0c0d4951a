namespace Blkmq.Filters;

/// <summary>The empty filter: everything passes through (what a stack costs when its filter does nothing).</summary>
internal sealed class PassFilter : BlockFilter
{
    /// <inheritdoc/>
    public override string Name => "pass";

    /// <inheritdoc/>
    public override bool SupportsZoned => true;

    /// <inheritdoc/>
    public override StackedDiskOptions GetStackedMapping(Disk lower) => new();
}
