namespace Blkmq.Concurrency.Tests.Infrastructure;

/// <summary>
/// Turns a hang into a test failure. The limit is generous on purpose: no test passes or fails by how long it
/// takes, only by whether it finishes at all.
/// </summary>
internal static class HangGuard
{
    /// <summary>How long any single wait may take before the test is declared hung.</summary>
    public static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    /// <summary>Waits for <paramref name="task"/>, failing with <see cref="TimeoutException"/> if it hangs.</summary>
    public static Task Guard(this Task task) => task.WaitAsync(Limit, TestContext.Current.CancellationToken);

    /// <summary>Waits for <paramref name="task"/>, failing with <see cref="TimeoutException"/> if it hangs.</summary>
    public static Task<T> Guard<T>(this Task<T> task) => task.WaitAsync(Limit, TestContext.Current.CancellationToken);

    /// <summary>Blocks until <paramref name="task"/> completes; fails if it hangs.</summary>
    public static void Wait(Task task)
    {
        if (!task.Wait(Limit, TestContext.Current.CancellationToken))
        {
            throw new TimeoutException($"Hung for {Limit.TotalSeconds} s.");
        }
    }

    /// <summary>Blocks until <paramref name="signal"/> is set; fails if it never is.</summary>
    public static void Wait(ManualResetEventSlim signal, string what)
    {
        if (!signal.Wait(Limit, TestContext.Current.CancellationToken))
        {
            throw new TimeoutException($"Hung for {Limit.TotalSeconds} s waiting for {what}.");
        }
    }

    /// <summary>Spins until <paramref name="condition"/> holds; fails if it never does.</summary>
    public static void Until(Func<bool> condition, string what)
    {
        if (!SpinWait.SpinUntil(condition, Limit))
        {
            throw new TimeoutException($"Hung for {Limit.TotalSeconds} s waiting for {what}.");
        }
    }
}
