using Blkmq.Simulation.Tests.Infrastructure;

namespace Blkmq.Simulation.Tests;

/// <summary>
/// The checks can fail: a disk that breaks a promise on purpose is caught, and the report names the seed and the
/// command that replays it.
/// </summary>
public sealed class BrokenPromiseTests
{
    private static readonly SimFaults s_calm = new() { Inline = 0.3, SoftIrq = 0.3, LateComplete = 0.5, Crashes = 3 };

    [Fact]
    public void FlushAcknowledgedWithoutWriteBack_PowerCutCheckReportsTheSeed()
    {
        string? failure = FirstFailure(s_calm with { LieAboutFlush = true });

        Assert.NotNull(failure);
        Assert.Contains("after a power cut sector", failure, StringComparison.Ordinal);
        Assert.Matches(@"^SEED=\d+: ", failure);
        Assert.Contains("replay: BLKMQ_SIM_SEED=", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadAcknowledgedWithoutData_ReadCheckReportsTheSeed()
    {
        string? failure = FirstFailure(s_calm with { SkipReadData = true });

        Assert.NotNull(failure);
        Assert.Contains("garbage", failure, StringComparison.Ordinal);
        Assert.Matches(@"^SEED=\d+: ", failure);
    }

    [Fact]
    public void HonestDisk_SameFaults_NoFailure()
    {
        Assert.Null(FirstFailure(s_calm));
    }

    private static string? FirstFailure(SimFaults faults)
    {
        for (ulong seed = 1; seed <= 20; seed++)
        {
            SimulationResult result = Infrastructure.Simulation.Run(new SimulationOptions { Seed = seed, Faults = faults });
            if (result.Failure is not null)
            {
                return result.Failure;
            }
        }

        return null;
    }
}
