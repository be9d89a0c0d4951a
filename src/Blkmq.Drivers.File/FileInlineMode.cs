namespace Blkmq.Drivers.File;

/// <summary>Where the io_uring engine runs a submitter's continuation when it ends the request (<c>inline=</c>).</summary>
public enum FileInlineMode
{
    /// <summary>Never on the ring thread: the completion runner, or the thread pool while the runner is busy.</summary>
    Off = 0,

    /// <summary>
    /// On the ring thread while the queue has a single IO (nothing else in flight, nothing waiting), else on the
    /// queue's completion runner. The runner watches an inline continuation: one that runs a whole tick (about 1 ms)
    /// loses the ring to a new ring thread, and the queue ends requests on the runner for the next 100 ticks. At
    /// queue depth 1 it is at fio's speed where <see cref="Off"/> pays two thread hand-offs per IO; at queue depth 32
    /// it takes <see cref="Off"/>'s path and measured the same (its earlier slowdown there went with the ring's
    /// lockstep batching, fixed on 7 December 2026). The default.
    /// </summary>
    Auto = 1,

    /// <summary>
    /// Always on the ring thread, unwatched: fio's own loop, but a continuation that blocks (a synchronous read of the
    /// same disk) stalls the ring for good.
    /// </summary>
    Always = 2,
}
