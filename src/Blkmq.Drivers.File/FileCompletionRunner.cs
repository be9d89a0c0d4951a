using System.Diagnostics;
using System.Runtime.InteropServices;
using Blkmq.Drivers.File.Interop;

namespace Blkmq.Drivers.File;

/// <summary>
/// The thread that ends an io_uring hardware queue's requests and runs their submitters' continuations
/// (<see cref="EndOptions.RunContinuationInline"/>), so neither the ring thread nor the thread pool does. The ring
/// thread hands it the IOs one <c>io_uring_enter</c> reaped, as a batch, only while it is idle
/// (<see cref="TryHandOff"/>); while it runs a batch the ring thread ends IOs the ordinary way (the queue's completion
/// context on the thread pool).
/// </summary>
/// <remarks>
/// <para>Why: an end on the ring thread resumes the submitter on the thread pool, which costs one work item per IO
/// at queue depth 1, and the pool answers each by waking a worker that then wakes or spins for another; measured on a
/// two-core machine, 20–35 <c>sched_yield</c> calls and 10–70 context switches per IO, where this thread costs one
/// wake-up (an eventfd write and read).</para>
/// <para>Hand-off protocol: one state word, <c>Idle</c> → <c>Sleeping</c> or <c>Parked</c> (the runner, before it
/// waits for its eventfd), <c>Sleeping</c> → <c>Idle</c> (the runner, when a tick passed without a write),
/// <c>Idle</c>, <c>Sleeping</c> or <c>Parked</c> → <c>Handed</c> (the ring thread, with a CAS, after it filled the
/// batch: the CAS publishes it), <c>Handed</c> → <c>Idle</c> (the runner, when the batch is done). Only the ring
/// thread moves the word to <c>Handed</c>, so it writes the batch while the runner does not read it; it writes the
/// eventfd exactly when its CAS replaced <c>Sleeping</c> or <c>Parked</c>, so every wait has one write to end it, and
/// a runner whose move back from <c>Sleeping</c> fails reads the write that is due; no wake-up is lost.</para>
/// <para>Watching (<c>inline=auto</c>): while the ring thread may run continuations itself, the runner sleeps in
/// <c>poll</c> with a one-tick timeout (<c>Sleeping</c>) instead of an unbounded <c>read</c>, and at every tick asks
/// the queue to look at its ring thread (<see cref="FileUringQueue.Watch"/>), which takes the ring away from a
/// continuation that ran a whole tick while IO waits. After <see cref="ParkAfterTicks"/> ticks in a row without an
/// inline continuation it parks (<c>Parked</c>: no timeout, no cost to an idle disk); a batch the ring thread handed
/// over because the runner was parked or busy (<see cref="FileUringQueue.TakeWatchRequest"/>) makes it watch again; the ring thread runs no continuation while
/// the runner is parked or busy (<see cref="IsWatching"/>, read after the ring thread's interlocked entry; the runner
/// reads that entry after its interlocked move to <c>Parked</c>, so one of them sees the other).</para>
/// <para>Blocking: a continuation that blocks holds up only the rest of its own batch, as it would in the completion
/// context's work item; every later IO goes to the thread pool, because the runner is not idle. The runner is never
/// joined (a continuation may dispose the disk from it, or wait for whoever disposes it): <see cref="Stop"/> hands it
/// an empty batch, or marks the stop for it to see when its batch returns, and it closes its eventfd on its way out.</para>
/// </remarks>
internal sealed unsafe class FileCompletionRunner
{
    private const int Idle = 0;
    private const int Sleeping = 1;
    private const int Handed = 2;
    private const int Parked = 3;

    /// <summary>The watch's tick, in milliseconds: how long an inline continuation may run before it loses the ring.</summary>
    internal const int TickMilliseconds = 1;

    /// <summary>
    /// Quiet wake-ups (ticks with no inline continuation started, batches the ring thread did not ask to be watched
    /// after) after which the runner stops watching and parks.
    /// </summary>
    internal const int ParkAfterTicks = 100;

    private readonly FileDisk _disk;
    private readonly FileUringQueue? _watched;
    private readonly ulong[] _tokens;
    private readonly BlockStatus[] _statuses;
    private readonly int _eventFd;
    private readonly Thread _thread;
    private readonly long _spinTicks;
    private int _count;
    private int _state;
    private volatile bool _stopping;

    public FileCompletionRunner(FileDisk disk, int hwQueueIndex, int capacity, FileUringQueue? watched)
    {
        _disk = disk;
        _watched = watched;
        _spinTicks = disk.SpinMicroseconds * Stopwatch.Frequency / 1_000_000;
        _tokens = new ulong[capacity];
        _statuses = new BlockStatus[capacity];
        _eventFd = Libc.EventFd(0, Libc.EfdCloexec);
        if (_eventFd < 0)
        {
            throw new IOException($"{disk.Path}: eventfd failed ({Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}).");
        }

        _thread = new Thread(static state => ((FileCompletionRunner)state!).Run())
        {
            IsBackground = true,
            Name = $"blkmq-uring-{hwQueueIndex}-end",
        };
        _thread.Start(this);
    }

    /// <summary>Gets whether the calling thread is this runner.</summary>
    public bool IsCurrentThread => Thread.CurrentThread == _thread;

    /// <summary>
    /// Gets whether the runner watches the ring thread (idle or sleeping with a tick, neither parked nor running a
    /// batch), so the ring thread may run a continuation itself. The ring thread reads it after its interlocked entry.
    /// </summary>
    public bool IsWatching => Volatile.Read(ref _state) is Idle or Sleeping;

    /// <summary>Gets whether the runner is running a batch the ring thread handed it.</summary>
    public bool IsRunningBatch => Volatile.Read(ref _state) == Handed;

    /// <summary>
    /// Gives the runner ended IOs (<paramref name="tokens"/>, <paramref name="statuses"/>) if it is idle; ring thread only. The
    /// runner looks each request up by its token and ends it, so the requests stay the driver's until then.
    /// </summary>
    /// <returns>Whether the runner took them; false when it is busy (the caller ends them itself).</returns>
    public bool TryHandOff(ReadOnlySpan<ulong> tokens, ReadOnlySpan<BlockStatus> statuses)
    {
        int state = Volatile.Read(ref _state);
        if (state == Handed)
        {
            return false;
        }

        // The runner reads the batch only after it sees Handed, and nobody else moves the word to Handed: the batch
        // is ours to write until the CAS below publishes it (a CAS is a full fence).
        tokens.CopyTo(_tokens);
        statuses.CopyTo(_statuses);
        _count = tokens.Length;
        while (true)
        {
            int seen = Interlocked.CompareExchange(ref _state, Handed, state);
            if (seen == state)
            {
                break;
            }

            // The runner went to sleep, parked, or woke from a tick meanwhile (its only moves): hand it over from there.
            Debug.Assert(seen != Handed, "only the ring thread moves the word to Handed");
            state = seen;
        }

        if (state is Sleeping or Parked)
        {
            ulong one = 1;
            _ = Libc.Write(_eventFd, &one, sizeof(ulong));
        }

        return true;
    }

    /// <summary>
    /// Makes the runner end: at once when idle, else when its batch returns. Never waits for it. The caller has no IO
    /// left with it (<c>ExitHctx</c> runs once the queue is empty).
    /// </summary>
    public void Stop()
    {
        _stopping = true;

        // Full fence: the runner stores Idle and then reads the flag, we stored the flag and now read its state, so
        // either it sees the stop or we see it idle (Dekker).
        Interlocked.MemoryBarrier();

        // An empty batch wakes an idle runner, which then sees the stop; a busy one sees it when its batch returns.
        _ = TryHandOff([], []);
    }

    /// <summary>
    /// Polls for a batch for at most the <c>spin=</c> time before the runner sleeps: at queue depth 1 the next
    /// completion follows the IO its batch's continuation just submitted, and a runner found awake costs the ring
    /// thread no eventfd write and itself no wake-up.
    /// </summary>
    /// <returns>Whether a batch came.</returns>
    private bool SpinForBatch()
    {
        if (_spinTicks == 0)
        {
            return false;
        }

        long start = Stopwatch.GetTimestamp();
        int round = 0;
        while (Volatile.Read(ref _state) != Handed)
        {
            if (Stopwatch.GetTimestamp() - start > _spinTicks)
            {
                return false;
            }

            PollPause(ref round);
        }

        return true;
    }

    /// <summary>
    /// One step of a spin= poll: mostly a pause; now and then a sched_yield, so a thread runnable on this CPU (the
    /// submitter, the loop device's worker) is not kept off it by the poll on a machine with few cores.
    /// </summary>
    /// <param name="round">The poll's step count.</param>
    internal static void PollPause(ref int round)
    {
        if ((++round & 7) == 0)
        {
            _ = Thread.Yield();
        }
        else
        {
            Thread.SpinWait(30);
        }
    }

    private void Run()
    {
        int quietTicks = 0;
        while (true)
        {
            if (!SpinForBatch())
            {
                WaitForBatch(ref quietTicks);
            }

            Debug.Assert(Volatile.Read(ref _state) == Handed, "woken without a batch");

            // A batch counts as quiet unless the ring thread could not inline for want of a watch (inline=auto
            // always asks then; inline=0 never watches).
            quietTicks = _watched?.TakeWatchRequest() == true ? 0 : quietTicks + 1;
            int count = _count;
            for (int i = 0; i < count; i++)
            {
                if (_disk.TagSet.TryGetRequest(new RequestToken(_tokens[i]), out Request<FileRequest> request))
                {
                    // The submitter's continuation runs here, on this thread the driver lends for it.
                    request.TryEnd(_statuses[i], EndOptions.RunContinuationInline);
                }
            }

            // Interlocked: the read of the flag must not pass the store of Idle (see Stop).
            if (_stopping || (Interlocked.Exchange(ref _state, Idle) == Handed && _stopping))
            {
                break;
            }
        }

        _ = Libc.Close(_eventFd);
    }

    /// <summary>
    /// Sleeps until the ring thread hands a batch over (the state is <c>Handed</c> on return): in ticks while it
    /// watches the ring thread (see the summary), without a timeout once parked.
    /// </summary>
    /// <param name="quietTicks">Ticks in a row in which the ring thread started no inline continuation.</param>
    private void WaitForBatch(ref int quietTicks)
    {
        while (true)
        {
            bool watch = _watched is not null && quietTicks < ParkAfterTicks;
            if (Interlocked.CompareExchange(ref _state, watch ? Sleeping : Parked, Idle) != Idle)
            {
                return; // handed over while we looked
            }

            if (!watch && _watched is not null && _watched.IsRunningInline)
            {
                // The ring thread entered a continuation before it could see us parked: watch on (Dekker, see summary).
                quietTicks = 0;
                if (Interlocked.CompareExchange(ref _state, Idle, Parked) == Parked)
                {
                    continue;
                }

                ReadWakeUp(); // handed over meanwhile: its eventfd write is due
                return;
            }

            if (watch && !PollWakeUp())
            {
                if (Interlocked.CompareExchange(ref _state, Idle, Sleeping) == Sleeping)
                {
                    quietTicks = _watched!.Watch() ? 0 : quietTicks + 1;
                    continue;
                }

                // Handed over between the timeout and our move back to Idle: its eventfd write is due.
            }

            ReadWakeUp();
            return;
        }
    }

    /// <summary>Waits one tick for the eventfd to become readable.</summary>
    /// <returns>Whether it is (a hand-off wrote it).</returns>
    private bool PollWakeUp()
    {
        PollFd fd = new() { Fd = _eventFd, Events = Libc.PollIn };
        return Libc.Poll(&fd, 1, TickMilliseconds) > 0;
    }

    /// <summary>Blocks until the ring thread's write: it writes once for each time it finds us Sleeping or Parked.</summary>
    private void ReadWakeUp()
    {
        ulong value;
        while (Libc.Read(_eventFd, &value, sizeof(ulong)) < 0 && Marshal.GetLastPInvokeError() == Errno.EINTR)
        {
        }
    }
}
