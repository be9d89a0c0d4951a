namespace Blkmq.Drivers.Null;

/// <summary>How the null driver completes requests (null_blk's <c>irqmode</c>).</summary>
public enum IrqMode
{
    /// <summary>0: the request ends inside <c>QueueRq</c>.</summary>
    None = 0,

    /// <summary>1: the request is handed to the hardware queue's completion context (softirq), which ends it.</summary>
    SoftIrq = 1,

    /// <summary>2: the request ends <c>completion_nsec</c> after it was queued, from a per-queue timer.</summary>
    Timer = 2,
}
