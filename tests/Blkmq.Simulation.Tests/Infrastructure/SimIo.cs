namespace Blkmq.Simulation.Tests.Infrastructure;

/// <summary>One IO the workload submitted, as the submitter knows it.</summary>
internal sealed class SimIo
{
    public required long Id { get; init; }

    /// <summary>Gets the disk the IO goes to; <see cref="Sector"/> counts over all disks, one after the other.</summary>
    public required int Disk { get; init; }

    public required RequestOp Op { get; init; }

    public required RequestFlags Flags { get; init; }

    public required long Sector { get; init; }

    public required int Count { get; init; }

    public required long SubmitSequence { get; init; }

    public required long SubmittedAt { get; init; }

    /// <summary>Gets whether this read checks the disk after a power cut (against what may survive one).</summary>
    public bool Verify { get; init; }

    public byte[]? Buffer { get; set; }

    public (long[] Values, int LogMark)[]? Snapshots { get; set; }

    public int Completions { get; set; }

    public override string ToString() => $"io {Id} disk {Disk} {Op}{(Flags != RequestFlags.None ? "+" + Flags : string.Empty)} sectors {Sector}+{Count}{(Verify ? " (verify)" : string.Empty)}";
}
