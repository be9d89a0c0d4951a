namespace Blkmq.Bench;

/// <summary>Why the benchmark controller stopped waiting.</summary>
internal enum PumpOutcome
{
    /// <summary>The deadline passed or the awaited event was set.</summary>
    Done,

    /// <summary>Ctrl+C.</summary>
    Cancelled,

    /// <summary>No IO completed for the stall timeout although IO was in flight: a completion was lost.</summary>
    Stalled,
}
