using System.Runtime.InteropServices;

namespace Blkmq.Bench;

/// <summary>
/// A job's IO counters: written with plain stores by the job's thread only, read racily by the controller's
/// sampler (64-bit aligned reads do not tear). Padded to two cache lines so that no other job's or object's
/// writes share their line.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 192)]
internal struct JobCounters
{
    /// <summary>IOs completed, warmup included: the sampler's IOPS source.</summary>
    [FieldOffset(64)]
    public long Completed;

    /// <summary>IOs completed in the measured phase.</summary>
    [FieldOffset(72)]
    public long MeasuredIos;

    /// <summary>Bytes moved in the measured phase.</summary>
    [FieldOffset(80)]
    public long MeasuredBytes;

    /// <summary>IOs that failed.</summary>
    [FieldOffset(88)]
    public long Errors;
}
