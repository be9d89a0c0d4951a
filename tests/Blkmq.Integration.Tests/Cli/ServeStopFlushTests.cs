using System.Net;
using Blkmq.Integration.Tests.Filters;
using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests.Cli;

/// <summary>
/// <c>blkmq serve</c> stopped with SIGTERM while a client that never flushed is still connected: the server flushes its
/// disks once the front ends have stopped, as qemu-nbd does when it closes an image, so acknowledged writes do not stay
/// in the file's page cache. The flush goes to the file driver under the filters: the log-writes filter above it logs
/// the client's write and no flush (a crash test's flush points are the workload's own).
/// </summary>
public sealed class ServeStopFlushTests
{
    private const int TestTimeoutMilliseconds = 120_000;

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task SigTerm_WithUnflushedWritesAndAClientConnected_KeepsTheWrite_AndTheLogHasNoServerFlush()
    {
        CancellationToken cancellationToken = TestContext.Current.CancellationToken;
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string image = Path.Combine(directory, "disk.img");
            string log = Path.Combine(directory, "writes.log");
            (CliProcess serve, string uri) = await FilterServe.StartAsync($"disk=file:path={image},create=4M|log-writes:file={log}", cancellationToken);
            await using (serve)
            {
                var endPoint = new IPEndPoint(IPAddress.Loopback, new Uri(uri).Port);
                await using RawNbdClient client = await RawNbdClient.OpenAsync(endPoint);
                byte[] data = new byte[65536];
                new Random(7).NextBytes(data);
                await client.SendRequestAsync(RawNbdClient.CmdWrite, 1, 4096, (ulong)data.Length, payload: data);
                Assert.Equal(0U, (await client.ReadReplyAsync()).Error);

                // Still connected, never flushed.
                await FilterServe.StopAsync(serve);
                byte[] written = await File.ReadAllBytesAsync(image, cancellationToken);
                Assert.True(written.AsSpan(4096, data.Length).SequenceEqual(data), "the write is not in the image");
            }

            ToolResult list = await BlkmqCli.RunAsync(["replay", log, "--list"], FilterServe.ToolTimeout, cancellationToken);
            Assert.True(list.ExitCode == 0, list.StandardError);
            Assert.Contains("writes=1 ", list.StandardOutput, StringComparison.Ordinal);
            Assert.Contains("flush-points=0 ", list.StandardOutput, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
