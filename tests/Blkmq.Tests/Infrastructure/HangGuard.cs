namespace Blkmq.Tests.Infrastructure;

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

    /// <summary>
    /// Waits for <paramref name="task"/>, failing with a <see cref="TimeoutException"/> if it hangs; the message is
    /// <paramref name="describe"/>'s, taken when the guard fires, so it can say where things are stuck.
    /// </summary>
    public static async Task Guard(this Task task, Func<string> describe)
    {
        try
        {
            await task.WaitAsync(Limit, TestContext.Current.CancellationToken);
        }
        catch (TimeoutException hung)
        {
            throw new TimeoutException($"Hung for {Limit.TotalSeconds} s: {describe()}.", hung);
        }
    }

    /// <summary>Waits for <paramref name="task"/>, failing with <see cref="TimeoutException"/> if it hangs.</summary>
    public static Task<T> Guard<T>(this Task<T> task) => task.WaitAsync(Limit, TestContext.Current.CancellationToken);

    /// <summary>
    /// Waits until <paramref name="condition"/> holds, for state another thread reaches at a time the test cannot
    /// observe directly (a request reaching a queue, a worker settling); fails if it never does.
    /// </summary>
    public static void Eventually(Func<bool> condition, string what)
    {
        if (!SpinWait.SpinUntil(condition, Limit))
        {
            Assert.Fail($"Never true within {Limit.TotalSeconds} s: {what}.");
        }
    }
}
