using System.Net.Sockets;
using System.Text;
using Blkmq.Cli;
using Blkmq.Drivers;
using Blkmq.Drivers.Null;
using Blkmq.Drivers.Null.Control;

namespace Blkmq.Integration.Tests;

/// <summary>
/// The control socket of <c>blkmq serve --control</c>, in process: a <see cref="ControlServer"/> on a temp Unix socket
/// over null_blk devices, driven line by line from a raw socket; effects are checked through the devices' public API.
/// </summary>
public sealed class ControlSocketTests
{
    private const string Spec = "memory_backed=1,size=16M,bs=512,irqmode=0";

    [Fact]
    public async Task BadBlocksAdd_ReadOfSector_Fails_RemoveAndClear_Restore()
    {
        await using Harness h = await Harness.StartAsync();
        BlockDevice device = h.Device.Disk!.OpenDevice();
        byte[] buffer = new byte[512];

        Assert.StartsWith("ok", await h.SendAsync("badblocks disk add 0-7"), StringComparison.Ordinal);
        Assert.True(h.Device.BadBlocks.Contains(0));
        await Assert.ThrowsAsync<BlockIOException>(async () => await device.ReadAsync(0, buffer));
        await device.ReadAsync(8 * 512, buffer);

        Assert.StartsWith("ok", await h.SendAsync("badblocks disk remove 0-3"), StringComparison.Ordinal);
        await device.ReadAsync(0, buffer);
        await Assert.ThrowsAsync<BlockIOException>(async () => await device.ReadAsync(4 * 512, buffer));

        Assert.StartsWith("ok", await h.SendAsync("badblocks disk clear"), StringComparison.Ordinal);
        Assert.True(h.Device.BadBlocks.IsEmpty);
        await device.ReadAsync(4 * 512, buffer);
    }

    [Fact]
    public async Task PowerOff_IOFails_PowerOn_DiskBack()
    {
        await using Harness h = await Harness.StartAsync();
        BlockDevice device = h.Device.Disk!.OpenDevice();
        byte[] data = new byte[4096];
        data.AsSpan().Fill(0x5a);
        await device.WriteAsync(0, data);

        Assert.Equal("ok disk power=off", await h.SendAsync("power disk off"));
        Assert.False(h.Device.Power);
        Assert.Null(h.Device.Disk);
        await Assert.ThrowsAnyAsync<IOException>(async () => await device.ReadAsync(0, new byte[4096]));
        Assert.StartsWith("error", await h.SendAsync("stats disk"), StringComparison.Ordinal);

        Assert.StartsWith("ok disk power=on", await h.SendAsync("power disk on"), StringComparison.Ordinal);
        Assert.True(h.Device.Power);
        byte[] read = new byte[4096];
        await h.Device.Disk!.OpenDevice().ReadAsync(0, read);
        Assert.Equal(data, read);
    }

    [Fact]
    public async Task Stats_Returns17Numbers_CountingReads()
    {
        await using Harness h = await Harness.StartAsync();
        await h.Device.Disk!.OpenDevice().ReadAsync(0, new byte[4096]);

        string reply = await h.SendAsync("stats disk");
        Assert.StartsWith("ok ", reply, StringComparison.Ordinal);
        string[] fields = reply["ok ".Length..].Split(' ');
        Assert.Equal(17, fields.Length);
        Assert.All(fields, static f => Assert.True(long.TryParse(f, out _), f));
        Assert.Equal(1, long.Parse(fields[0], System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(8, long.Parse(fields[2], System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task PowerCut_DropsUnflushedCache()
    {
        await using Harness h = await Harness.StartAsync(Spec + ",cache_size=4M");
        BlockDevice device = h.Device.Disk!.OpenDevice();
        byte[] flushed = new byte[4096];
        flushed.AsSpan().Fill(1);
        await device.WriteAsync(0, flushed);
        await device.FlushAsync();
        byte[] cached = new byte[4096];
        cached.AsSpan().Fill(2);
        await device.WriteAsync(0, cached);
        Assert.True(h.Device.CachedBytes > 0);

        Assert.StartsWith("ok disk powercut", await h.SendAsync("powercut disk"), StringComparison.Ordinal);
        Assert.Equal(0, h.Device.CachedBytes);
        byte[] read = new byte[4096];
        await device.ReadAsync(0, read);
        Assert.Equal(flushed, read);
    }

    [Fact]
    public async Task List_ShowsEveryExport()
    {
        await using Harness h = await Harness.StartAsync(Spec, Spec.Replace("16M", "32M", StringComparison.Ordinal));
        string reply = await h.SendAsync("list");
        Assert.StartsWith("ok 2 export(s)", reply, StringComparison.Ordinal);
        Assert.Contains("disk disk=nullb0 size=16777216", reply, StringComparison.Ordinal);
        Assert.Contains("disk1 disk=nullb0 size=33554432", reply, StringComparison.Ordinal);
        Assert.Contains("memory_backed=1", reply, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("frobnicate")]
    [InlineData("power nosuch off")]
    [InlineData("power disk sideways")]
    [InlineData("badblocks disk add 7-0")]
    [InlineData("badblocks disk add x-7")]
    [InlineData("badblocks disk add 7")]
    [InlineData("badblocks nosuch clear")]
    [InlineData("stats")]
    [InlineData("list extra")]
    [InlineData("")]
    public async Task BadInput_Error_ConnectionStaysUsable(string command)
    {
        await using Harness h = await Harness.StartAsync();
        string reply = await h.SendAsync(command);
        Assert.StartsWith("error ", reply, StringComparison.Ordinal);
        Assert.True(h.Device.Power);
        Assert.True(h.Device.BadBlocks.IsEmpty);
        Assert.StartsWith("ok ", await h.SendAsync("stats disk"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stop_RemovesSocketFile_AndStaleFileIsReplaced()
    {
        Harness h = await Harness.StartAsync();
        string path = h.Server.Path;
        Assert.True(File.Exists(path));
        await h.DisposeAsync();
        Assert.False(File.Exists(path));

        // A socket file nobody listens on (a crashed server's) is replaced; a live one is refused. The stale one is
        // bound but never listened on; it is disposed only after the server stopped, as its dispose unlinks the path.
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var stale = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        stale.Bind(new UnixDomainSocketEndPoint(path));
        Assert.True(File.Exists(path));
        using NullBlock instance = NullBlock.Create(Spec);
        await using var server = new ControlServer(path, new ControlProtocol([new ControlExport("disk", instance.Devices[0])]).ExecuteAsync);
        server.Start();
        await using var second = new ControlServer(path, new ControlProtocol([]).ExecuteAsync);
        Assert.Throws<IOException>(second.Start);
        Assert.True(File.Exists(path));
        await server.StopAsync();
        Assert.False(File.Exists(path));
        Directory.Delete(Path.GetDirectoryName(path)!);
    }

    [Fact]
    public async Task ControlExport_TryCreate_OnlyForNullDriverInstances()
    {
        await using DriverInstance memory = NullDriverProvider.Memory.Create(Spec);
        Assert.True(ControlExport.TryCreate("disk", memory, out ControlExport? export));
        Assert.Equal("disk", export.Name);
        Assert.Same(((NullBlock)memory.Owner).Devices[0], export.Device);

        var other = new DriverInstance { DriverName = "other", Disks = memory.Disks, Owner = new NoOwner() };
        Assert.False(ControlExport.TryCreate("disk", other, out ControlExport? none));
        Assert.Null(none);
    }

    private sealed class NoOwner : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    /// <summary>A control server on a fresh temp socket over one null_blk instance per spec, exports "disk", "disk1", ...</summary>
    private sealed class Harness : IAsyncDisposable
    {
        private readonly List<NullBlock> _instances;
        private readonly string _directory;
        private readonly Socket _client;
        private readonly StreamReader _reader;

        private Harness(ControlServer server, List<NullBlock> instances, string directory, Socket client)
        {
            Server = server;
            _instances = instances;
            _directory = directory;
            _client = client;
            _reader = new StreamReader(new NetworkStream(client, ownsSocket: false), new UTF8Encoding(false));
        }

        public ControlServer Server { get; }

        public NullDevice Device => _instances[0].Devices[0];

        public static async Task<Harness> StartAsync(params string[] specs)
        {
            if (specs.Length == 0)
            {
                specs = [Spec];
            }

            string directory = Path.Combine(Path.GetTempPath(), "blkmq-ctl-" + Guid.NewGuid().ToString("N")[..12]);
            Directory.CreateDirectory(directory);
            var instances = specs.Select(NullBlock.Create).ToList();
            var exports = instances.Select(static (instance, i) => new ControlExport(i == 0 ? "disk" : "disk" + i, instance.Devices[0])).ToList();
            var server = new ControlServer(Path.Combine(directory, "control.sock"), new ControlProtocol(exports).ExecuteAsync);
            server.Start();
            var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await client.ConnectAsync(new UnixDomainSocketEndPoint(server.Path), TestContext.Current.CancellationToken);
            return new Harness(server, instances, directory, client);
        }

        public async Task<string> SendAsync(string line)
        {
            await _client.SendAsync(Encoding.UTF8.GetBytes(line + "\n"), SocketFlags.None, TestContext.Current.CancellationToken);
            string? reply = await _reader.ReadLineAsync(TestContext.Current.CancellationToken);
            Assert.NotNull(reply);
            return reply;
        }

        public async ValueTask DisposeAsync()
        {
            _reader.Dispose();
            _client.Dispose();
            await Server.StopAsync();
            foreach (NullBlock instance in _instances)
            {
                await instance.DisposeAsync();
            }

            Directory.Delete(_directory, recursive: true);
        }
    }
}
