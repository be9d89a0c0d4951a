using System.Net;
using Blkmq.Integration.Tests.Infrastructure;
using Blkmq.Nbd;

namespace Blkmq.Integration.Tests;

/// <summary>
/// The example of docs/writing-a-driver.md ("Serving it from your own process"), kept honest: a driver written
/// from scratch in a few lines, a tag set, a disk, an NBD server on a port chosen at run time, and qemu-io writing
/// and reading it back through the real client.
/// </summary>
public sealed class WritingADriverExampleTests
{
    private static readonly TimeSpan s_toolTimeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task RamDriver_ServedInProcess_IsWrittenAndReadBackByQemuIo()
    {
        ExternalTool.Require("qemu-io");

        // --- the example, as the page shows it ---
        await using var tagSet = new TagSet<RamDriver, Nothing, Nothing, RamDisk>(
            default, new TagSetOptions { HardwareQueueCount = 2, QueueDepth = 64 });
        var ram = new RamDisk(16 << 20);
        Disk disk = tagSet.AddDisk(ram, new DiskOptions { Name = "ram0", Capacity = 16 << 20 });
        await using var server = new NbdServer(new NbdServerOptions
        {
            Exports = [new NbdExport { Name = "ram", Disk = disk }],
            Listeners = [new IPEndPoint(IPAddress.Loopback, 0)],
        });
        await server.StartAsync(TestContext.Current.CancellationToken);
        string uri = NbdServer.FormatUri(server.EndPoints[0], "ram");   // nbd://127.0.0.1:PORT/ram
        // --- end of the example ---

        ToolResult written = await ExternalTool.RunCheckedAsync(
            "qemu-io", ["-f", "raw", uri, "-c", "write -P 0x5a 1M 64k", "-c", "read -P 0x5a 1M 64k", "-c", "read -P 0 0 4k"], s_toolTimeout);
        Assert.DoesNotContain("Pattern verification failed", written.StandardOutput, StringComparison.Ordinal);

        // The bytes are in the driver's own array, where qemu-io put them.
        Assert.Equal(0x5a, ram.Bytes[(1 << 20) + 65535]);
        Assert.Equal(0, ram.Bytes[(1 << 20) + 65536]);
    }

    /// <summary>Nothing per request and nothing per queue: this driver keeps all it needs in its disk.</summary>
    public readonly struct Nothing;

    /// <summary>A disk in one array (the example's driver data).</summary>
    public sealed class RamDisk(int size)
    {
        public byte[] Bytes { get; } = new byte[size];
    }

    /// <summary>The whole driver: copy in or out of the array and end the request, inline.</summary>
    public readonly struct RamDriver : IBlockDriver<Nothing, Nothing, RamDisk>
    {
        public static bool ConcurrentQueueRq => true;

        public Nothing InitHctx(RamDisk disk, int hwQueueIndex) => default;

        public Nothing InitRequest(int hwQueueIndex, int tag) => default;

        public BlockStatus QueueRq(ref Nothing hwQueue, RamDisk disk, Request<Nothing> request, bool isLast)
        {
            int position = checked((int)(request.Sector << 9));
            foreach (Memory<byte> segment in request.Segments)
            {
                Span<byte> bytes = disk.Bytes.AsSpan(position, segment.Length);
                switch (request.Op)
                {
                    case RequestOp.Read:
                        bytes.CopyTo(segment.Span);
                        break;
                    case RequestOp.Write:
                        segment.Span.CopyTo(bytes);
                        break;
                }

                position += segment.Length;
            }

            request.End(request.Op is RequestOp.Read or RequestOp.Write or RequestOp.Flush ? BlockStatus.Ok : BlockStatus.NotSupported);
            return BlockStatus.Ok;
        }
    }
}
