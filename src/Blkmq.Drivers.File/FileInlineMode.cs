namespace Blkmq.Drivers.File;

/// <summary>Where the io_uring engine runs a submitter's continuation when it ends the request (<c>inline=</c>).</summary>
public enum FileInlineMode
{
    /// <summary>Never on the ring thread: the completion runner, or the thread pool while the runner is busy.</summary>
    Off = 0,

    /// <summary>
    /// On the ring thread, watched by the queue's completion runner: a continuation that runs a whole tick (about
    /// 1 ms) while IOs wait (blocked: at once; computing: after ten ticks) loses the ring to a new ring thread, the
    /// IOs reaped with it end on the thread pool, and the queue ends requests on the runner for the next 100 ticks.
    /// When the runner is parked (an idle disk) or busy, a pass goes to it as with <see cref="Off"/>, and it watches
    /// again. At fio's speed where <see cref="Off"/> pays two thread hand-offs per IO at queue depth 1 and 5-15 % of
    /// the IOPS at queue depth 32; a continuation that blocks costs its queue about two ticks. The default.
    /// </summary>
    Auto = 1,

    /// <summary>
    /// Always on the ring thread, unwatched: fio's own loop, but a continuation that blocks (a synchronous read of the
    /// same disk) stalls the ring for good.
    /// </summary>
    Always = 2,
}
