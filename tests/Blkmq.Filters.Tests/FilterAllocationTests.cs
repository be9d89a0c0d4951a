using Blkmq.Drivers;

namespace Blkmq.Filters.Tests;

/// <summary>The pass-through path allocates nothing per IO in steady state, for an empty filter and for stats.</summary>
public sealed class FilterAllocationTests
{
    [Theory]
    [InlineData("null:irqmode=0,size=16M")]
    [InlineData("null:irqmode=0,size=16M|pass")]
    [InlineData("null:irqmode=0,size=16M|stats")]
    [InlineData("memory:irqmode=0,size=16M|pass|offset:offset=1M")]
    [InlineData("null:irqmode=0,size=16M|stats:sample=16|pass|offset:offset=1M")]
    public async Task SteadyState_ReadsAndWrites_AllocateNothing(string stack)
    {
        await using DriverInstance instance = Stacks.Create(stack);
        BlockDevice device = instance.Disk.OpenDevice();
        byte[] buffer = new byte[4096];
        Run(device, buffer, 2000);
        AllocationRounds.AssertAllocatesNothing(() => Run(device, buffer, 2000), iosPerRound: 2000);
    }

    private static void Run(BlockDevice device, byte[] buffer, int count)
    {
        for (int i = 0; i < count; i++)
        {
            ValueTask<BlockStatus> io = (i & 1) == 0 ? device.ReadStatusAsync(i % 64 * 4096L, buffer) : device.WriteStatusAsync(i % 64 * 4096L, buffer);
            if (!io.IsCompleted)
            {
                throw new InvalidOperationException("irqmode=0 below a pass-through filter must complete inline.");
            }

            if (io.GetAwaiter().GetResult() != BlockStatus.Ok)
            {
                throw new InvalidOperationException("IO failed.");
            }
        }
    }
}
