namespace Blkmq.Concurrency.Tests.Infrastructure;

/// <summary>Marks a driver callback as running until disposed.</summary>
internal readonly struct CallbackScope(DriverProbe probe) : IDisposable
{
    public void Dispose() => probe.Exit();
}
