using Blkmq.Drivers.Null;
using Blkmq.Nbd;

namespace Blkmq.Integration.Tests;

/// <summary>Server options are checked before anything listens, each wrong one named.</summary>
public sealed class NbdServerOptionsTests
{
    [Theory]
    [InlineData(-1)]
    [InlineData(20_000)]
    public async Task BusyPoll_OutsideZeroToTenMilliseconds_IsRefused(int microseconds)
    {
        await using NullBlock nullb = NullBlock.Create("size=1M,irqmode=0");
        var options = new NbdServerOptions
        {
            Exports = [new NbdExport { Name = "disk", Disk = nullb.Disk }],
            BusyPoll = TimeSpan.FromMicroseconds(microseconds),
        };
        ArgumentException error = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Equal(nameof(NbdServerOptions.BusyPoll), error.ParamName);
    }

    [Fact]
    public async Task BusyPoll_ZeroTurnsPollingOff_AndIsValid()
    {
        await using NullBlock nullb = NullBlock.Create("size=1M,irqmode=0");
        var options = new NbdServerOptions { Exports = [new NbdExport { Name = "disk", Disk = nullb.Disk }], BusyPoll = TimeSpan.Zero };
        options.Validate();
        Assert.Equal(TimeSpan.FromMicroseconds(50), new NbdServerOptions().BusyPoll);
    }
}
