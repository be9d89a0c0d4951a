using System.Runtime.InteropServices;
using Microsoft.Extensions.Time.Testing;

namespace Blkmq.Concurrency.Tests.Infrastructure;

/// <summary>
/// One read held by the probe driver, and a handle to it that operations end or read from any thread. Records how
/// many ends succeeded and failed and what the submitter saw, for CsCheck to compare a parallel run with the
/// sequential orders of the same operations: in every order the first end wins and all later ones fail.
/// </summary>
internal sealed class EndRaceState
{
    private const long IoSector = 8;

    private readonly ProbeRig _rig;
    private readonly Task _read;
    private readonly Lock _observeLock = new();
    private int _ended;
    private int _refused;
    private int _violations;
    private string? _submitterSaw;

    public EndRaceState()
    {
        _rig = ProbeRig.Create(new TagSetOptions { QueueDepth = 1, TimeProvider = new FakeTimeProvider() });
        _rig.Probe.OnQueueRq = _rig.Probe.Capture;
        _read = _rig.Device.ReadAsync(IoSector << 9, new byte[512]).AsTask();
        Handle = _rig.Probe.TakeCaptured();
    }

    public Request<ProbeRequest> Handle { get; }

    public void End(BlockStatus status)
    {
        // A copy of the handle, as another thread of a driver would hold.
        Request<ProbeRequest> copy = Handle;
        try
        {
            copy.End(status);
            Interlocked.Increment(ref _ended);
        }
        catch (InvalidOperationException)
        {
            Interlocked.Increment(ref _refused);
        }
    }

    public void TryEnd(BlockStatus status)
    {
        Request<ProbeRequest> copy = Handle;
        Interlocked.Increment(ref copy.TryEnd(status) ? ref _ended : ref _refused);
    }

    public void ReadSector()
    {
        Request<ProbeRequest> copy = Handle;
        try
        {
            if (copy.Sector != IoSector)
            {
                Interlocked.Increment(ref _violations);
            }
        }
        catch (InvalidOperationException)
        {
            // Ended by another operation: a dead handle refuses to read, which is the rule.
        }
    }

    /// <summary>What the run produced; idempotent, so CsCheck may compare one run with several orders.</summary>
    public Outcome Observe()
    {
        lock (_observeLock)
        {
            if (_submitterSaw is null)
            {
                if (Volatile.Read(ref _ended) != 0)
                {
                    // An end on this (foreign) thread resumes the submitter on the thread pool (rule 10): wait for it.
                    ((IAsyncResult)_read).AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(30));
                }

                if (!_read.IsCompleted)
                {
                    // No operation ended it (possible when every operation only reads): end it to free the tag.
                    Handle.TryEnd(BlockStatus.Ok);
                    _submitterSaw = "pending";
                }
                else
                {
                    try
                    {
                        _read.GetAwaiter().GetResult();
                        _submitterSaw = nameof(BlockStatus.Ok);
                    }
                    catch (BlockIOException ex)
                    {
                        _submitterSaw = ex.Status.ToString();
                    }
                }
            }

            return new Outcome(Volatile.Read(ref _ended), Volatile.Read(ref _refused), _submitterSaw, Volatile.Read(ref _violations));
        }
    }

    public override string ToString() => Observe().ToString();

    [StructLayout(LayoutKind.Auto)]
    internal readonly record struct Outcome(int Ended, int Refused, string SubmitterSaw, int Violations)
    {
        /// <summary>At most one end won, a read never saw another IO's sector, and an ended IO reached its submitter.</summary>
        public bool IsConsistent => Violations == 0 && Ended <= 1 && (Ended == 1) == (SubmitterSaw != "pending");
    }
}
