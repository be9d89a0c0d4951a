namespace Blkmq.Emulation;

/// <summary>
/// The running state of one fault setting (the kernel's <c>struct fault_attr</c> counters): decides, call by call,
/// whether to inject the fault, exactly as the kernel's <c>should_fail(attr, 1)</c>. The null driver's
/// <c>timeout</c>, <c>requeue</c> and <c>init_hctx</c> parameters and the <c>error</c> filter share it.
/// </summary>
/// <remarks>A lock keeps the counters exact across queues; an always-failing injector takes it too (cheap, uncontended per call).</remarks>
public sealed class FaultInjector
{
    private readonly Lock _lock = new();
    private readonly long _interval;
    private readonly double _probability;
    private long _space;
    private int _times;
    private long _count;

    /// <summary>Initializes the state of a setting.</summary>
    /// <param name="interval">Only every interval-th eligible call may fail (0 and 1 mean every call).</param>
    /// <param name="probability">The probability of failure, 0 to 1.</param>
    /// <param name="space">The first <c>space - 1</c> calls never fail.</param>
    /// <param name="times">How many failures to inject in all; -1 for no limit.</param>
    public FaultInjector(long interval, double probability, long space, int times)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(interval);
        ArgumentOutOfRangeException.ThrowIfNegative(space);
        ArgumentOutOfRangeException.ThrowIfLessThan(times, -1);
        if (probability is not (>= 0 and <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(probability), probability, "A probability is from 0 to 1.");
        }

        _interval = interval;
        _probability = probability;
        _space = space;
        _times = times;
    }

    /// <summary>Initializes the state of <paramref name="attribute"/>.</summary>
    /// <param name="attribute">The setting, probability in percent.</param>
    public FaultInjector(FaultAttribute attribute)
        : this(attribute.Interval, attribute.Probability / 100.0, attribute.Space, attribute.Times)
    {
    }

    /// <summary>Creates the state for <paramref name="attribute"/>, or returns null when there is none or it can never fail.</summary>
    /// <param name="attribute">The setting, or null.</param>
    /// <returns>The state, or null.</returns>
    public static FaultInjector? Create(FaultAttribute? attribute) =>
        attribute is null || attribute.Probability == 0 || attribute.Times == 0 ? null : new FaultInjector(attribute);

    /// <summary>Decides one call: whether it fails.</summary>
    /// <returns>True to inject the fault.</returns>
    public bool ShouldFail()
    {
        lock (_lock)
        {
            if (_times == 0)
            {
                return false;
            }

            if (_space > 1)
            {
                _space--;
                return false;
            }

            if (_interval > 1 && ++_count % _interval != 0)
            {
                return false;
            }

#pragma warning disable CA5394 // Fault injection, not security: the kernel uses get_random_u32_below too.
            if (_probability < 1 && _probability <= Random.Shared.NextDouble())
#pragma warning restore CA5394
            {
                return false;
            }

            if (_times != -1)
            {
                _times--;
            }

            return true;
        }
    }
}
