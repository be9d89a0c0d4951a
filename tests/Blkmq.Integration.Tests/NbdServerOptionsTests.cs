using System.Net;
using System.Net.Sockets;

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

    [Theory]
    [InlineData("0.0.0.0", "nbd://localhost:10809/disk")]
    [InlineData("::", "nbd://localhost:10809/disk")]
    [InlineData("127.0.0.1", "nbd://127.0.0.1:10809/disk")]
    [InlineData("::1", "nbd://[::1]:10809/disk")]
    public void FormatUri_NamesAHostAClientCanConnectTo(string address, string uri)
    {
        Assert.Equal(uri, NbdServer.FormatUri(new IPEndPoint(IPAddress.Parse(address), 10809), "disk"));
    }

    [Fact]
    public void FormatUri_EscapesTheExportName_AndTheSocketPath()
    {
        Assert.Equal("nbds://127.0.0.1:1/a%20b%2Fc", NbdServer.FormatUri(new IPEndPoint(IPAddress.Loopback, 1), "a b/c", tls: true));
        Assert.Equal("nbd+unix:///d?socket=/tmp/x%20y.sock", NbdServer.FormatUri(new UnixDomainSocketEndPoint("/tmp/x y.sock"), "d"));
    }
}
