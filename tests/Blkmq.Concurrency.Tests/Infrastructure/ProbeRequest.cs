namespace Blkmq.Concurrency.Tests.Infrastructure;

/// <summary>The probe driver's per-request data: which tag slot it belongs to, set once by <c>InitRequest</c>.</summary>
public struct ProbeRequest
{
    /// <summary>Gets or sets the slot's hardware queue and tag, packed, to tell slots apart in assertions.</summary>
    public int Slot { get; set; }
}
