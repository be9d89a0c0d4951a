using Blkmq.Drivers.Null;

namespace Blkmq.Simulation.Tests;

/// <summary>Defects the simulation found, each pinned by a direct test that does not depend on a seed.</summary>
public sealed class FoundBugRegressionTests
{
    /// <summary>
    /// Found as "statistics count 3 read IOs; 4 have ended": a plugged request merged from several IOs that had to
    /// wait for its tag (the plug ran out) was submitted with no merges, so <c>rd_merges</c> lost them.
    /// </summary>
    [Fact]
    public async Task PlugOutOfTags_MergedRequestThatWaitedForATag_KeepsItsMerges()
    {
        await using NullBlock nullb = NullBlock.Create(new NullBlockOptions { Size = 1 << 20, MemoryBacked = true, HwQueueDepth = 1, IrqMode = IrqMode.None });
        var batch = new BlockBatch(nullb.Disk.OpenDevice());
        byte[] buffer = new byte[4 * 512];
        batch.Read(0, buffer.AsMemory(0, 512));
        batch.Read(512, buffer.AsMemory(512, 512));
        batch.Read(8192, buffer.AsMemory(1024, 512));
        batch.Read(8704, buffer.AsMemory(1536, 512));

        await batch.SubmitAsync();

        Assert.Equal(2, batch.RequestCount);
        DiskStats stats = nullb.Disk.GetStatistics();
        Assert.Equal(2, stats.ReadIos);
        Assert.Equal(2, stats.ReadMerges);
        Assert.Equal(4, stats.ReadSectors);
    }
}
