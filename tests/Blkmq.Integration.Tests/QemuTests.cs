using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests;

/// <summary>qemu-img and qemu-io (qemu's NBD client) against the server.</summary>
[Collection("heavy")]
public sealed class QemuTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task QemuImgInfo_ShowsRawSize()
    {
        ExternalTool.Require("qemu-img");
        await using NbdTestServer server = await NbdTestServer.StartAsync();
        ToolResult result = await ExternalTool.RunCheckedAsync("qemu-img", ["info", server.Uri()], s_timeout);
        Assert.Contains("file format: raw", result.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("67108864 bytes", result.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task QemuIo_WritesPatterns_AndReadsThemBackVerified()
    {
        ExternalTool.Require("qemu-io");
        await using NbdTestServer server = await NbdTestServer.StartAsync();
        ToolResult result = await ExternalTool.RunCheckedAsync(
            "qemu-io",
            [
                "-f", "raw",
                "-c", "write -P 0xab 0 64k",
                "-c", "write -P 0xcd 1M 1M",
                "-c", "write -f -P 0x11 3M 4k",
                "-c", "write -z 1M 64k",
                "-c", "discard 2M 64k",
                "-c", "aio_write -P 0x22 8M 128k",
                "-c", "aio_write -P 0x33 9M 128k",
                "-c", "aio_flush",
                "-c", "read -P 0xab 0 64k",
                "-c", "read -P 0 1M 64k",
                "-c", "read -P 0xcd 1088k 960k",
                "-c", "read -P 0x11 3M 4k",
                "-c", "read -P 0x22 8M 128k",
                "-c", "read -P 0x33 9M 128k",
                "-c", "flush",
                server.Uri(),
            ],
            s_timeout);
        Assert.DoesNotContain("fail", result.StandardOutput + result.StandardError, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(6, result.StandardOutput.Split("read ", StringSplitOptions.None).Length - 1);
    }

    [Fact]
    public async Task QemuImg_ConvertQcow2IntoExport_ThenCompareIsIdentical()
    {
        ExternalTool.Require("qemu-img", "qemu-io");
        await using NbdTestServer server = await NbdTestServer.StartAsync("memory_backed=1,discard=1,size=64M,bs=512,irqmode=1");
        string image = Path.Combine(server.Directory, "source.qcow2");
        await ExternalTool.RunCheckedAsync("qemu-img", ["create", "-q", "-f", "qcow2", image, "64M"], s_timeout);
        await ExternalTool.RunCheckedAsync(
            "qemu-io",
            ["-f", "qcow2", "-c", "write -P 0x5a 0 1M", "-c", "write -P 0xa5 10M 3M", "-c", "write -P 0x01 63M 1M", image],
            s_timeout);

        // Dirty the export first, so the convert has to zero what the image leaves unallocated.
        await server.Disk.OpenDevice().WriteAsync(20L << 20, Enumerable.Repeat((byte)0xff, 1 << 20).ToArray());
        await ExternalTool.RunCheckedAsync("qemu-img", ["convert", "-n", "-f", "qcow2", "-O", "raw", image, server.Uri()], s_timeout);
        ToolResult compare = await ExternalTool.RunCheckedAsync("qemu-img", ["compare", "-f", "qcow2", "-F", "raw", image, server.Uri()], s_timeout);
        Assert.Contains("Images are identical", compare.StandardOutput, StringComparison.Ordinal);

        // And a difference is found.
        await server.Disk.OpenDevice().WriteAsync(30L << 20, new byte[] { 1 }.Concat(new byte[511]).ToArray());
        ToolResult differ = await ExternalTool.RunAsync("qemu-img", ["compare", "-f", "qcow2", "-F", "raw", image, server.Uri()], s_timeout);
        Assert.Equal(1, differ.ExitCode);
    }
}
