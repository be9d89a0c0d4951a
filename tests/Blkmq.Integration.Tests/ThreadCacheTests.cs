using Blkmq.Nbd;

namespace Blkmq.Integration.Tests;

/// <summary>The NBD server's thread cache: work runs on its own thread, finished threads are reused, disposal ends them.</summary>
public sealed class ThreadCacheTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public void SequentialWork_ReusesOneParkedThread()
    {
        using var cache = new ThreadCache("test", maxParked: 4, stackSize: 256 * 1024);
        var threads = new HashSet<int>();
        for (int i = 0; i < 50; i++)
        {
            using var done = new ManualResetEventSlim();
            int id = 0;
            cache.Run(_ => { id = Environment.CurrentManagedThreadId; done.Set(); }, null);
            Assert.True(done.Wait(s_timeout));
            threads.Add(id);

            // Let the worker park before the next Run, or a second thread may be started meanwhile.
            Thread.Sleep(5);
        }

        Assert.DoesNotContain(Environment.CurrentManagedThreadId, threads);
        Assert.True(threads.Count <= 3, $"{threads.Count} threads for 50 sequential runs");
    }

    [Fact]
    public void ConcurrentWork_EachOnItsOwnThread_BlockingDoesNotStallOthers()
    {
        using var cache = new ThreadCache("test", maxParked: 2, stackSize: 256 * 1024);
        using var release = new ManualResetEventSlim();
        using var allStarted = new CountdownEvent(8);
        using var allDone = new CountdownEvent(8);
        var threads = new System.Collections.Concurrent.ConcurrentDictionary<int, bool>();
        for (int i = 0; i < 8; i++)
        {
            cache.Run(
                _ =>
                {
                    threads[Environment.CurrentManagedThreadId] = true;
                    allStarted.Signal();
                    release.Wait();
                    allDone.Signal();
                },
                null);
        }

        // All eight block at once: each must be on a thread of its own.
        Assert.True(allStarted.Wait(s_timeout));
        Assert.Equal(8, threads.Count);
        release.Set();
        Assert.True(allDone.Wait(s_timeout));
    }

    [Fact]
    public void Dispose_EndsParkedThreads()
    {
        var cache = new ThreadCache("test", maxParked: 4, stackSize: 256 * 1024);
        Thread? worker = null;
        using var done = new ManualResetEventSlim();
        cache.Run(_ => { worker = Thread.CurrentThread; done.Set(); }, null);
        Assert.True(done.Wait(s_timeout));
        Thread.Sleep(20);
        Assert.True(worker!.IsAlive);
        cache.Dispose();
        Assert.True(worker.Join(s_timeout), "a parked thread outlived the cache");
    }
}
