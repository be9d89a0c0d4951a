using System.Net;
using Blkmq.Integration.Tests.Infrastructure;
using Blkmq.Nbd;

namespace Blkmq.Integration.Tests;

/// <summary>
/// A disk declares its allocation map in its options, and the map may answer asynchronously (as an RBD object map
/// or an upstream NBD server would): nbdinfo's block-status map over NBD shows what that map says.
/// </summary>
public sealed class AsyncBlockStatusTests
{
    private const long Size = 8 << 20;
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task NbdInfoMap_OfADiskWhoseMapAnswersAsynchronously_ShowsItsDataAndHoles()
    {
        ExternalTool.Require("nbdinfo");
        var map = new RemoteMap();
        await using var tagSet = new TagSet<ZeroDriver, byte, object, object>(default, new TagSetOptions());
        Disk disk = tagSet.AddDisk(map, new DiskOptions { Name = "remote", Capacity = Size, Allocation = map, ReadsFillBuffers = true });
        var server = new NbdServer(new NbdServerOptions
        {
            Exports = [new NbdExport { Name = "remote", Disk = disk }],
            Listeners = [new IPEndPoint(IPAddress.Loopback, 0)],
        });
        await using (server)
        {
            await server.StartAsync();
            string uri = NbdServer.FormatUri((IPEndPoint)server.EndPoints[0], "remote");

            ToolResult result = await ExternalTool.RunCheckedAsync("nbdinfo", ["--map", uri], s_timeout);

            string[] lines = result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            Assert.Equal(3, lines.Length);
            Assert.Matches(@"^0\s+1048576\s+0\s+data$", lines[0]);
            Assert.Matches(@"^1048576\s+3145728\s+3\s+hole,zero$", lines[1]);
            Assert.Matches(@"^4194304\s+4194304\s+0\s+data$", lines[2]);
            Assert.True(map.AnsweredAsynchronously > 0);
        }
    }

    [Fact]
    public async Task Disk_WithoutDeclaredMap_HasNone_EvenIfItsDataCouldAnswer()
    {
        await using var tagSet = new TagSet<ZeroDriver, byte, object, object>(default, new TagSetOptions());
        Disk disk = tagSet.AddDisk(new RemoteMap(), new DiskOptions { Name = "plain", Capacity = Size });

        Assert.Null(disk.Allocation);
        Assert.Throws<ArgumentException>(() => tagSet.AddDisk(new RemoteMap(), new DiskOptions { Name = "zoned", Capacity = Size, Limits = new QueueLimits { ZoneSectors = 2048 } }));
    }

    /// <summary>An allocation map that answers after a trip elsewhere: data in [0, 1M) and [4M, 8M).</summary>
    private sealed class RemoteMap : IAllocationSource
    {
        private int _answeredAsynchronously;

        public int AnsweredAsynchronously => Volatile.Read(ref _answeredAsynchronously);

        public async ValueTask<AllocationExtent> GetExtentAsync(long offset, long maxLength, CancellationToken cancellationToken = default)
        {
            await Task.Delay(1, cancellationToken);
            Interlocked.Increment(ref _answeredAsynchronously);
            (bool data, long end) = offset < (1 << 20) ? (true, 1L << 20) : offset < (4 << 20) ? (false, 4L << 20) : (true, Size);
            return new AllocationExtent(data, Math.Min(end - offset, maxLength));
        }
    }

    /// <summary>A driver whose reads return zeroes and whose other IO succeeds.</summary>
    private readonly struct ZeroDriver : IBlockDriver<byte, object, object>
    {
        public BlockStatus QueueRq(ref object hwQueue, object disk, Request<byte> request, bool isLast)
        {
            if (request.Op == RequestOp.Read)
            {
                foreach (Memory<byte> segment in request.Segments)
                {
                    segment.Span.Clear();
                }
            }

            request.End(BlockStatus.Ok);
            return BlockStatus.Ok;
        }

        public object InitHctx(object disk, int hwQueueIndex) => new();

        public byte InitRequest(int hwQueueIndex, int tag) => 0;
    }
}
