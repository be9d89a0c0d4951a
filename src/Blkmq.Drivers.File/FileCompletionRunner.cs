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
/// <para>Hand-off protocol: one state word, <c>Idle</c> → <c>Sleeping</c> (the runner, before it blocks in
/// <c>read</c> of its eventfd), <c>Idle</c> or <c>Sleeping</c> → <c>Handed</c> (the ring thread, with a CAS, after
/// it filled the batch: the CAS publishes it), <c>Handed</c> → <c>Idle</c> (the runner, when the batch is done). Only
/// the ring thread leaves <c>Idle</c> and <c>Sleeping</c> for <c>Handed</c>, so it writes the batch while the runner
/// does not read it; it writes the eventfd exactly when its CAS replaced <c>Sleeping</c>, so every read the runner
/// blocks in has one write to end it and no wake-up is lost.</para>
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

    private readonly FileDisk _disk;
    private readonly ulong[] _tokens;
    private readonly BlockStatus[] _statuses;
    private readonly int _eventFd;
    private readonly Thread _thread;
    private readonly long _spinTicks;
    private int _count;
    private int _state;
    private volatile bool _stopping;

    public FileCompletionRunner(FileDisk disk, int hwQueueIndex, int capacity)
    {
        _disk = disk;
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

            // The runner went from Idle to Sleeping meanwhile (the only other move): hand it over from there.
            Debug.Assert(seen == Sleeping, "only the runner moves the word, and only from Idle to Sleeping");
            state = seen;
        }

        if (state == Sleeping)
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
        ulong value;
        while (true)
        {
            if (!SpinForBatch() && Interlocked.CompareExchange(ref _state, Sleeping, Idle) == Idle)
            {
                // Blocks until the ring thread's write: it writes once for each time it finds us Sleeping.
                while (Libc.Read(_eventFd, &value, sizeof(ulong)) < 0 && Marshal.GetLastPInvokeError() == Errno.EINTR)
                {
                }
            }

            Debug.Assert(Volatile.Read(ref _state) == Handed, "woken without a batch");
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
}
