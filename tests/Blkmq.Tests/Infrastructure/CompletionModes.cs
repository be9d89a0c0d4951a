namespace Blkmq.Tests.Infrastructure;

/// <summary>
/// The four ways the null driver can end a request, as null_blk parameters a test appends to its own (the last value
/// of a name wins): <c>irqmode=0</c> ends it inside <c>QueueRq</c>, <c>irqmode=1</c> through the block layer's
/// completion context (<c>Request.Complete</c>), <c>irqmode=2</c> from the queue's timer, and a poll queue ends it only
/// when the submitter polls. An error must reach the caller the same way in all four (issue 10, defect 1: the
/// softirq path once dropped the status, so an IO to a bad block succeeded).
/// </summary>
/// <remarks>
/// Use <see cref="All"/> as a theory's member data and <see cref="Open"/> for the device: in polled mode it submits
/// what can be polled (reads, writes, zone appends) with <see cref="RequestFlags.Polled"/> and polls until it ends.
/// Flush, discard, write-zeroes and zone management take no request flags in <see cref="BlockDevice"/>, so in polled
/// mode they go to a default queue and end as with <c>irqmode=0</c>.
/// </remarks>
internal static class CompletionModes
{
    /// <summary><c>irqmode=0</c>: the driver ends the request inline.</summary>
    public const string None = "irqmode=0";

    /// <summary><c>irqmode=1</c>, null_blk's default: the driver completes the request through the completion context.</summary>
    public const string SoftIrq = "irqmode=1";

    /// <summary><c>irqmode=2</c>: the queue's timer ends the request after a short <c>completion_nsec</c>.</summary>
    public const string Timer = "irqmode=2,completion_nsec=20000";

    /// <summary>One poll queue: polled IO ends only when the submitter polls; other IO ends inline.</summary>
    public const string Polled = "irqmode=0,poll_queues=1";

    /// <summary>Gets the four modes, to combine with other theory parameters.</summary>
    public static IReadOnlyList<string> Each { get; } = [None, SoftIrq, Timer, Polled];

    /// <summary>Gets the four modes, as the single parameter of a theory.</summary>
    public static TheoryData<string> All => new(Each);

    /// <summary>Gets whether <paramref name="mode"/> submits IO to a poll queue.</summary>
    public static bool IsPolled(string mode) => mode.Contains("poll_queues=", StringComparison.Ordinal);

    /// <summary>Opens <paramref name="disk"/> for IO in <paramref name="mode"/>.</summary>
    public static ModeDevice Open(Disk disk, string mode) => new(disk.OpenDevice(), IsPolled(mode));
}
