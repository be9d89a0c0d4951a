using System.Runtime.InteropServices;

namespace Blkmq.Simulation.Tests.Infrastructure;

/// <summary>
/// Pins the simulator's thread to one processor for a run (Linux <c>sched_setaffinity</c> on the calling thread),
/// and restores its affinity afterwards. The block layer picks a tag's search hint by processor (sbitmap's
/// per-processor hints), so without the pin the tag a request gets, and the order in which the timeout scan visits
/// requests, would follow the operating system's scheduling instead of the seed.
/// </summary>
internal sealed partial class ProcessorPin : IDisposable
{
    private readonly ulong[] _saved = new ulong[16];
    private readonly bool _pinned;

    public ProcessorPin()
    {
        if (!OperatingSystem.IsLinux() || SchedGetAffinity(0, _saved.Length * sizeof(ulong), _saved) != 0)
        {
            return;
        }

        // The lowest processor the thread may run on, so every run of a seed uses the same one.
        for (int word = 0; word < _saved.Length && !_pinned; word++)
        {
            if (_saved[word] != 0)
            {
                ulong[] one = new ulong[_saved.Length];
                one[word] = _saved[word] & (~_saved[word] + 1);
                _pinned = SchedSetAffinity(0, one.Length * sizeof(ulong), one) == 0;

                // The runtime caches the processor id per thread and refreshes it every so many reads: read it until
                // the cache has surely been refreshed on the pinned processor.
                for (int i = 0; i < 100_000; i++)
                {
                    _ = Thread.GetCurrentProcessorId();
                }

                break;
            }
        }
    }

    public void Dispose()
    {
        if (_pinned)
        {
            _ = SchedSetAffinity(0, _saved.Length * sizeof(ulong), _saved);
        }
    }

    [LibraryImport("libc", EntryPoint = "sched_getaffinity", SetLastError = true)]
    private static partial int SchedGetAffinity(int pid, nint size, [Out] ulong[] mask);

    [LibraryImport("libc", EntryPoint = "sched_setaffinity", SetLastError = true)]
    private static partial int SchedSetAffinity(int pid, nint size, ulong[] mask);
}
