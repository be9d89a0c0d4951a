using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests;

/// <summary>libnbd's nbdinfo against the server: export details, <c>--list</c> and <c>--map</c>, over TCP and a Unix socket.</summary>
public sealed class NbdInfoTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task NbdInfo_ShowsSizeFlagsAndBlockSizes()
    {
        ExternalTool.Require("nbdinfo");
        await using NbdTestServer server = await NbdTestServer.StartAsync("memory_backed=1,discard=1,size=64M,bs=4096,irqmode=0");
        ToolResult result = await ExternalTool.RunCheckedAsync("nbdinfo", [server.Uri()], s_timeout);
        string output = result.StandardOutput;
        Assert.Contains("export-size: 67108864", output, StringComparison.Ordinal);
        Assert.Contains("is_read_only: false", output, StringComparison.Ordinal);
        Assert.Contains("can_trim: true", output, StringComparison.Ordinal);
        Assert.Contains("can_zero: true", output, StringComparison.Ordinal);
        Assert.Contains("can_fast_zero: true", output, StringComparison.Ordinal);
        Assert.Contains("can_multi_conn: true", output, StringComparison.Ordinal);
        Assert.Contains("can_df: true", output, StringComparison.Ordinal);
        Assert.Contains("can_cache: true", output, StringComparison.Ordinal);
        Assert.Contains("can_fua: true", output, StringComparison.Ordinal);
        Assert.Contains("block_size_minimum: 4096", output, StringComparison.Ordinal);
        Assert.Contains("block_size_maximum: 33554432", output, StringComparison.Ordinal);
        Assert.Contains("base:allocation", output, StringComparison.Ordinal);
        await server.WaitForNoConnectionsAsync();
    }

    [Fact]
    public async Task NbdInfo_List_ShowsEveryExportWithDescription()
    {
        ExternalTool.Require("nbdinfo");
        await using NbdTestServer server = await NbdTestServer.StartAsync([("disk", "size=16M,irqmode=0", false), ("archive", "memory_backed=1,size=8M,irqmode=0", true)]);
        ToolResult result = await ExternalTool.RunCheckedAsync("nbdinfo", ["--list", server.Uri(string.Empty)], s_timeout);
        string output = result.StandardOutput;
        Assert.Contains("export=\"disk\"", output, StringComparison.Ordinal);
        Assert.Contains("export=\"archive\"", output, StringComparison.Ordinal);
        Assert.Contains("description: test export archive", output, StringComparison.Ordinal);
        Assert.Contains("is_read_only: true", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NbdInfo_Map_ShowsDataAndHoles_OverUnixSocket()
    {
        ExternalTool.Require("nbdinfo");
        await using NbdTestServer server = await NbdTestServer.StartAsync(unixSocket: true);
        BlockDevice device = server.Disk.OpenDevice();
        byte[] data = new byte[1 << 20];
        Array.Fill(data, (byte)7);
        await device.WriteAsync(4L << 20, data);
        ToolResult result = await ExternalTool.RunCheckedAsync("nbdinfo", ["--map", server.UnixUri()], s_timeout);
        string[] lines = result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(3, lines.Length);
        Assert.Matches(@"^0\s+4194304\s+3\s+hole,zero$", lines[0]);
        Assert.Matches(@"^4194304\s+1048576\s+0\s+data$", lines[1]);
        Assert.Matches(@"^5242880\s+61865984\s+3\s+hole,zero$", lines[2]);

        ToolResult totals = await ExternalTool.RunCheckedAsync("nbdinfo", ["--map", "--totals", server.Uri()], s_timeout);
        Assert.Contains("1048576", totals.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NbdInfo_UnknownExport_FailsWithTheServersMessage()
    {
        ExternalTool.Require("nbdinfo");
        await using NbdTestServer server = await NbdTestServer.StartAsync();
        ToolResult result = await ExternalTool.RunAsync("nbdinfo", [server.Uri("missing")], s_timeout);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("missing", result.StandardError, StringComparison.Ordinal);
        await server.WaitForNoConnectionsAsync();
    }
}
