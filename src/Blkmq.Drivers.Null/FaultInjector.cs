namespace Blkmq.Drivers.Null;

/// <summary>
/// The running state of one <see cref="FaultAttribute"/> (the kernel's <c>struct fault_attr</c> counters):
/// decides, call by call, whether to inject the fault, exactly as the kernel's <c>should_fail(attr, 1)</c>.
/// </summary>
/// <remarks>Called only on a device with fault injection configured; a lock keeps the counters exact across queues.</remarks>
internal sealed class FaultInjector
{
    private readonly Lock _lock = new();
    private readonly long _interval;
    private readonly int _probability;
    private long _space;
    private int _times;
    private long _count;

    public FaultInjector(FaultAttribute attribute)
    {
        _interval = attribute.Interval;
        _probability = attribute.Probability;
        _space = attribute.Space;
        _times = attribute.Times;
    }

    /// <summary>Creates the state for <paramref name="attribute"/>, or returns null when there is none or it can never fail.</summary>
    public static FaultInjector? Create(FaultAttribute? attribute) =>
        attribute is null || attribute.Probability == 0 || attribute.Times == 0 ? null : new FaultInjector(attribute);

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
            if (_probability < 100 && _probability <= Random.Shared.Next(100))
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
