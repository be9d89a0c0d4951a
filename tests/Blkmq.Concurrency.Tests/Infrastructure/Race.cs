using System.Runtime.ExceptionServices;

namespace Blkmq.Concurrency.Tests.Infrastructure;

/// <summary>Runs actions on threads of their own, released together by a barrier, to make them race.</summary>
internal static class Race
{
    /// <summary>Runs every action on its own thread, all starting at once; rethrows the first failure.</summary>
    /// <param name="actions">The racers.</param>
    public static void Run(params ReadOnlySpan<Action> actions)
    {
        using var start = new Barrier(actions.Length);
        var threads = new Thread[actions.Length];
        var failures = new ExceptionDispatchInfo?[actions.Length];
        for (int i = 0; i < actions.Length; i++)
        {
            int index = i;
            Action action = actions[i];
            threads[i] = new Thread(() =>
            {
                try
                {
                    start.SignalAndWait(HangGuard.Limit);
                    action();
                }
                catch (Exception ex)
                {
                    failures[index] = ExceptionDispatchInfo.Capture(ex);
                }
            })
            {
                IsBackground = true,
                Name = $"racer {i}",
            };
            threads[i].Start();
        }

        foreach (Thread thread in threads)
        {
            if (!thread.Join(HangGuard.Limit))
            {
                throw new TimeoutException($"A racer hung for {HangGuard.Limit.TotalSeconds} s.");
            }
        }

        foreach (ExceptionDispatchInfo? failure in failures)
        {
            failure?.Throw();
        }
    }
}
