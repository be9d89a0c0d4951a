using System.Net;
using System.Net.Sockets;
using Blkmq.Drivers.Null;
using Blkmq.Nbd;

namespace Blkmq.Integration.Tests.Infrastructure;

/// <summary>
/// An in-process NBD server on 127.0.0.1 (port chosen at run time) and optionally a Unix socket in a fresh temp
/// directory, serving null_blk disks. Disposing stops the server and checks that nothing leaked: no tag in use and
/// no request in flight on any disk.
/// </summary>
internal sealed class NbdTestServer : IAsyncDisposable
{
    private readonly List<NullBlock> _instances = [];

    private NbdTestServer(NbdServer server, List<NullBlock> instances, string directory)
    {
        Server = server;
        _instances = instances;
        Directory = directory;
    }

    public NbdServer Server { get; }

    public string Directory { get; }

    public Disk Disk => _instances[0].Disk;

    public IReadOnlyList<Disk> Disks => _instances.Select(static i => i.Disk).ToList();

    public IPEndPoint EndPoint => (IPEndPoint)Server.EndPoints[0];

    public int Port => EndPoint.Port;

    public string? UnixPath { get; private init; }

    /// <summary>Gets the URI of an export over TCP.</summary>
    public string Uri(string export = "disk") => NbdServer.FormatUri(EndPoint, export);

    /// <summary>Gets the URI of an export over the Unix socket.</summary>
    public string UnixUri(string export = "disk") => NbdServer.FormatUri(new UnixDomainSocketEndPoint(UnixPath!), export);

    /// <summary>Starts a server with one export "disk" made from null_blk parameters.</summary>
    public static Task<NbdTestServer> StartAsync(string spec = "memory_backed=1,discard=1,size=64M,bs=512,irqmode=0", Func<NbdServerOptions, NbdServerOptions>? configure = null, bool readOnly = false, bool unixSocket = false) =>
        StartAsync([("disk", spec, readOnly)], configure, unixSocket);

    /// <summary>Starts a server with the given exports.</summary>
    public static async Task<NbdTestServer> StartAsync(IReadOnlyList<(string Name, string Spec, bool ReadOnly)> exports, Func<NbdServerOptions, NbdServerOptions>? configure = null, bool unixSocket = false)
    {
        string directory = Path.Combine(Path.GetTempPath(), "blkmq-nbd-" + Guid.NewGuid().ToString("N")[..12]);
        System.IO.Directory.CreateDirectory(directory);
        var instances = new List<NullBlock>();
        var list = new List<NbdExport>();
        foreach ((string name, string spec, bool readOnly) in exports)
        {
            NullBlock instance = NullBlock.Create(spec);
            instances.Add(instance);
            list.Add(new NbdExport { Name = name, Disk = instance.Disk, Description = "test export " + name, ReadOnly = readOnly });
        }

        var listeners = new List<EndPoint> { new IPEndPoint(IPAddress.Loopback, 0) };
        string? unixPath = null;
        if (unixSocket)
        {
            unixPath = Path.Combine(directory, "nbd.sock");
            listeners.Add(new UnixDomainSocketEndPoint(unixPath));
        }

        var options = new NbdServerOptions { Exports = list, Listeners = listeners };
        if (configure is not null)
        {
            options = configure(options);
        }

        var server = new NbdServer(options);
        await server.StartAsync();
        return new NbdTestServer(server, instances, directory) { UnixPath = unixPath };
    }

    /// <summary>Waits (bounded) until the server has no open connections.</summary>
    public async Task WaitForNoConnectionsAsync(TimeSpan? timeout = null)
    {
        DateTime deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (Server.ConnectionCount != 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        Assert.Equal(0, Server.ConnectionCount);
    }

    /// <summary>Checks that no disk has a request in flight or a tag in use.</summary>
    public async Task AssertNoLeaksAsync()
    {
        DateTime deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        foreach (NullBlock instance in _instances)
        {
            while ((instance.Disk.InFlight != 0 || instance.Disk.TagSet.TagsInUse != 0) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(10);
            }

            Assert.Equal(0, instance.Disk.InFlight);
            Assert.Equal(0, instance.Disk.TagSet.TagsInUse);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            using (var grace = new CancellationTokenSource(TimeSpan.FromSeconds(15)))
            {
                Task stop = Server.StopAsync(grace.Token);
                if (await Task.WhenAny(stop, Task.Delay(TimeSpan.FromSeconds(60))) != stop)
                {
                    string states = string.Join("\n", Server.Connections.Select(static c => c.DescribeState()));
                    string disks = string.Join("\n", _instances.Select(static i => $"{i.Disk.Name}: inFlight={i.Disk.InFlight} tagsInUse={i.Disk.TagSet.TagsInUse}"));
                    Assert.Fail($"NbdServer.StopAsync did not finish within 60 s.\n{states}\n{disks}");
                }

                await stop;
            }

            Assert.Equal(0, Server.ConnectionCount);
            await AssertNoLeaksAsync();
        }
        finally
        {
            foreach (NullBlock instance in _instances)
            {
                await instance.DisposeAsync();
            }

            try
            {
                System.IO.Directory.Delete(Directory, recursive: true);
            }
            catch (IOException)
            {
                // Best effort.
            }
        }
    }
}
