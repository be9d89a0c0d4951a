namespace Blkmq.Bench;

/// <summary>Receives a running benchmark's progress, on the controller's thread, a few times a second.</summary>
public interface IBenchProgress
{
    /// <summary>Shows where the run is.</summary>
    /// <param name="phase">"warmup", "measuring" or "stopping".</param>
    /// <param name="fraction">How much of the measured phase is done, 0 to 1.</param>
    /// <param name="iops">IOPS over the last interval.</param>
    void Report(string phase, double fraction, double iops);
}
