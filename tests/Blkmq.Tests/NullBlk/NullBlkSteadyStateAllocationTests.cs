using Blkmq.Drivers.Null;

namespace Blkmq.Tests.NullBlk;

/// <summary>
/// The null driver's features stay off the allocator in steady state: zone append (pooled completions) and a
/// memory-backed disk with bad blocks elsewhere (a lock-free snapshot check), with inline completion.
/// </summary>
public sealed class NullBlkSteadyStateAllocationTests
{
    [Fact]
    public void SteadyState_ZoneAppend_AllocatesNothing()
    {
        using NullBlock nullb = NullBlock.Create("zoned=1,zone_size=1,size=2M,irqmode=0");
        BlockDevice device = nullb.Disk.OpenDevice();
        byte[] buffer = new byte[4096];
        AppendMany(device, buffer, 1000);
        AllocationRounds.AssertAllocatesNothing(() => AppendMany(device, buffer, 2000), iosPerRound: 2000);
    }

    [Fact]
    public void SteadyState_MemoryBackedWithBadBlocksElsewhere_AllocatesNothing()
    {
        using NullBlock nullb = NullBlock.Create("memory_backed=1,badblocks=2000-2007,irqmode=0,size=1M");
        BlockDevice device = nullb.Disk.OpenDevice();
        byte[] buffer = new byte[4096];
        for (int i = 0; i < 1000; i++)
        {
            Consume(device.WriteAsync(i % 16 * 4096L, buffer));
        }

        AllocationRounds.AssertAllocatesNothing(
            () =>
            {
                for (int i = 0; i < 2000; i++)
                {
                    Consume(device.ReadAsync(i % 16 * 4096L, buffer));
                }
            },
            iosPerRound: 2000);
    }

    // Inline completion (irqmode none): the append is done when the call returns; the zone is reset when full.
    private static void AppendMany(BlockDevice device, byte[] buffer, int count)
    {
        for (int i = 0; i < count; i++)
        {
            ValueTask<long> append = device.ZoneAppendAsync(0, buffer);
            if (!append.IsCompleted)
            {
                throw new InvalidOperationException("irqmode=0 must complete inline.");
            }

            long offset = append.GetAwaiter().GetResult();
            if (offset + buffer.Length == device.ZoneSize)
            {
                Consume(device.ZoneManagementAsync(RequestOp.ZoneReset, 0));
            }
        }
    }

    private static void Consume(ValueTask io)
    {
        if (!io.IsCompletedSuccessfully)
        {
            throw new InvalidOperationException("irqmode=0 must complete inline.");
        }

        io.GetAwaiter().GetResult();
    }
}
