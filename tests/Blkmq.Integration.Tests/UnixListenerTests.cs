using System.Net;
using System.Net.Sockets;
using Blkmq.Drivers.Null;
using Blkmq.Nbd;

namespace Blkmq.Integration.Tests;

/// <summary>
/// A Unix socket listener's path: a stale socket file is replaced, but a file with data, a path where a server
/// listens, or the same path given twice is refused as EADDRINUSE and left as it was.
/// </summary>
public sealed class UnixListenerTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("blkmq-unix-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task RegularFileAtThePath_IsRefused_AndKept()
    {
        string path = Path.Combine(_directory, "notes.txt");
        await File.WriteAllTextAsync(path, "precious", TestContext.Current.CancellationToken);
        await using NullBlock nullb = NullBlock.Create("size=1M,irqmode=0");
        await using var server = new NbdServer(Options(nullb, new UnixDomainSocketEndPoint(path)));

        IOException error = await Assert.ThrowsAsync<IOException>(() => server.StartAsync());

        Assert.Contains("unix:" + path, error.Message, StringComparison.Ordinal);
        Assert.Equal(SocketError.AddressAlreadyInUse, Assert.IsType<SocketException>(error.InnerException).SocketErrorCode);
        Assert.Equal("precious", await File.ReadAllTextAsync(path, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task EmptyRegularFileAtThePath_IsRefused_AndKept()
    {
        // An empty file refuses connections as a stale socket does; it used to be taken for one and deleted.
        string path = Path.Combine(_directory, "empty");
        await File.WriteAllBytesAsync(path, [], TestContext.Current.CancellationToken);
        await using NullBlock nullb = NullBlock.Create("size=1M,irqmode=0");
        await using var server = new NbdServer(Options(nullb, new UnixDomainSocketEndPoint(path)));

        IOException error = await Assert.ThrowsAsync<IOException>(() => server.StartAsync());

        Assert.Equal(SocketError.AddressAlreadyInUse, Assert.IsType<SocketException>(error.InnerException).SocketErrorCode);
        Assert.True(File.Exists(path), "the empty file stays");
    }

    [Fact]
    public async Task PathOfARunningServer_IsRefused_AndTheFirstKeepsItsSocket()
    {
        string path = Path.Combine(_directory, "nbd.sock");
        await using NullBlock first = NullBlock.Create("size=1M,irqmode=0");
        await using NullBlock second = NullBlock.Create("size=1M,irqmode=0");
        await using var running = new NbdServer(Options(first, new UnixDomainSocketEndPoint(path)));
        await running.StartAsync();
        await using var late = new NbdServer(Options(second, new UnixDomainSocketEndPoint(path)));

        IOException error = await Assert.ThrowsAsync<IOException>(() => late.StartAsync());
        await late.StopAsync();

        Assert.Equal(SocketError.AddressAlreadyInUse, Assert.IsType<SocketException>(error.InnerException).SocketErrorCode);
        Assert.True(File.Exists(path), "the running server's socket file stays");
        using var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await client.ConnectAsync(new UnixDomainSocketEndPoint(path), TestContext.Current.CancellationToken);
        byte[] magic = new byte[8];
        for (int received = 0; received < magic.Length;)
        {
            int n = await client.ReceiveAsync(magic.AsMemory(received), TestContext.Current.CancellationToken);
            Assert.NotEqual(0, n);
            received += n;
        }

        Assert.Equal("NBDMAGIC"u8.ToArray(), magic);
    }

    [Fact]
    public async Task SamePathTwice_IsRefused_AndNothingStaysBound()
    {
        string path = Path.Combine(_directory, "nbd.sock");
        await using NullBlock nullb = NullBlock.Create("size=1M,irqmode=0");
        var endPoint = new UnixDomainSocketEndPoint(path);
        await using var server = new NbdServer(Options(nullb, endPoint, endPoint));

        IOException error = await Assert.ThrowsAsync<IOException>(() => server.StartAsync());

        Assert.Equal(SocketError.AddressAlreadyInUse, Assert.IsType<SocketException>(error.InnerException).SocketErrorCode);
        Assert.False(File.Exists(path), "the first listener's socket is removed with it");
    }

    [Fact]
    public async Task StaleSocketFile_IsReplaced()
    {
        string path = Path.Combine(_directory, "nbd.sock");
        // Bound but never listening: the file a killed server leaves behind. Disposed only at the end, as its
        // dispose unlinks the path.
        using var stale = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        stale.Bind(new UnixDomainSocketEndPoint(path));
        Assert.True(File.Exists(path));
        await using NullBlock nullb = NullBlock.Create("size=1M,irqmode=0");
        await using var server = new NbdServer(Options(nullb, new UnixDomainSocketEndPoint(path)));
        await server.StartAsync();

        using var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await client.ConnectAsync(new UnixDomainSocketEndPoint(path), TestContext.Current.CancellationToken);
        await server.StopAsync();
        Assert.False(File.Exists(path));
    }

    private static NbdServerOptions Options(NullBlock nullb, params EndPoint[] listeners) => new()
    {
        Exports = [new NbdExport { Name = "disk", Disk = nullb.Disk }],
        Listeners = listeners,
    };
}
