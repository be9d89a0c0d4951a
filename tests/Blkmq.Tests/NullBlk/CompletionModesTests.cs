using Blkmq.Drivers.Null;
using Blkmq.Tests.Infrastructure;

namespace Blkmq.Tests.NullBlk;

/// <summary>
/// The test helper <see cref="CompletionModes"/> does what the error tests rely on: in polled mode reads, writes and
/// zone appends end only through its polls; in the irqmodes it never needs to poll.
/// </summary>
public sealed class CompletionModesTests
{
    [Theory]
    [MemberData(nameof(CompletionModes.All), MemberType = typeof(CompletionModes))]
    public async Task OpenedDevice_PollsExactlyInPolledMode(string mode)
    {
        await using NullBlock nullb = NullBlock.Create("zoned=1,zone_size=1,size=2M,memory_backed=1," + mode);
        ModeDevice device = CompletionModes.Open(nullb.Disk, mode);
        Assert.Equal(CompletionModes.IsPolled(mode), device.IsPolled);

        await device.WriteAsync(0, new byte[4096]);
        await device.ReadAsync(0, new byte[4096]);
        Assert.Equal(1 << 20, await device.ZoneAppendAsync(1 << 20, new byte[4096]));
        await Assert.ThrowsAsync<BlockIOException>(async () => await device.WriteAsync(0, new byte[4096]));

        Assert.Equal(device.IsPolled ? 4 : 0, device.Reaped);
    }
}
