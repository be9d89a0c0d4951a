namespace Blkmq.Nbd;

/// <summary>
/// An auto-reset event for one waiting thread: <see cref="Wait"/> returns once <see cref="Set"/> was called since the
/// last wait began. A set that lands while the waiter is returning may be absorbed, so a waiter re-checks its
/// condition after every wait (all of <see cref="NbdConnection"/>'s loops do).
/// </summary>
internal sealed class ThreadSignal : IDisposable
{
    // No spinning: on a small machine the thread that would set the event needs the core more than the waiter.
    private readonly ManualResetEventSlim _event = new(false, spinCount: 0);

    /// <summary>Blocks until the signal is set, then resets it.</summary>
    public void Wait()
    {
        _event.Wait();
        _event.Reset();
    }

    /// <summary>Sets the signal, releasing the waiter if there is one.</summary>
    public void Set() => _event.Set();

    public void Dispose() => _event.Dispose();
}
