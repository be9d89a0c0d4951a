using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests;

/// <summary>libnbd's nbdcopy moving 256 MiB of random data into the export and back out, over several connections.</summary>
[Collection("heavy")]
public sealed class NbdCopyTests
{
    private const long Size = 256L << 20;

    [Fact]
    public async Task NbdCopy_RandomDataInAndOut_MultiConn_ChecksumsMatch()
    {
        ExternalTool.Require("nbdcopy");
        await using NbdTestServer server = await NbdTestServer.StartAsync("memory_backed=1,discard=1,size=256M,bs=512,irqmode=1,submit_queues=2", unixSocket: true);
        string source = Path.Combine(server.Directory, "source.bin");
        string copy = Path.Combine(server.Directory, "copy.bin");
        await TestFiles.WriteRandomAsync(source, Size, seed: 42);

        // In over TCP with 4 connections (the server advertises CAN_MULTI_CONN), out over the Unix socket with 2.
        await ExternalTool.RunCheckedAsync("nbdcopy", ["--connections=4", "--requests=32", "--flush", source, server.Uri()], TimeSpan.FromMinutes(3));
        Assert.True(server.Disk.OpenDevice().Disk.GetStatistics() is not null);
        await ExternalTool.RunCheckedAsync("nbdcopy", ["--connections=2", server.UnixUri(), copy], TimeSpan.FromMinutes(3));

        Assert.Equal(Size, new FileInfo(copy).Length);
        Assert.Equal(await TestFiles.Sha256Async(source), await TestFiles.Sha256Async(copy));
        await server.WaitForNoConnectionsAsync();
    }

    [Fact]
    public async Task NbdCopy_SparseExport_CopiesHolesAsZeroes()
    {
        ExternalTool.Require("nbdcopy");
        await using NbdTestServer server = await NbdTestServer.StartAsync("memory_backed=1,discard=1,size=64M,bs=4096,irqmode=0");
        byte[] data = new byte[1 << 20];
        new Random(7).NextBytes(data);
        await server.Disk.OpenDevice().WriteAsync(8L << 20, data);
        string copy = Path.Combine(server.Directory, "sparse.bin");
        await ExternalTool.RunCheckedAsync("nbdcopy", [server.Uri(), copy], TimeSpan.FromMinutes(1));
        byte[] result = await File.ReadAllBytesAsync(copy);
        Assert.Equal(64 << 20, result.Length);
        Assert.Equal(data, result.AsSpan(8 << 20, 1 << 20).ToArray());
        Assert.True(result.AsSpan(0, 8 << 20).IndexOfAnyExcept((byte)0) < 0);
        Assert.True(result.AsSpan(9 << 20).IndexOfAnyExcept((byte)0) < 0);
    }
}
