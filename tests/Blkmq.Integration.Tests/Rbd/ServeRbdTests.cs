using Blkmq.Integration.Tests.Cli;
using Blkmq.Integration.Tests.Cli.Interop;
using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests.Rbd;

/// <summary>
/// <c>blkmq serve</c> with the RBD driver on a real one-node Ceph cluster (memstore), driven by real clients:
/// qemu-img convert and compare, nbdinfo --map from the object map, the cluster's own <c>rbd export</c> reading back
/// what went in over NBD, nbdcopy round trip, fio verify at depth 32, a snapshot served read-only, a second server
/// refused by the exclusive lock, the data of a flushed write surviving SIGKILL, and one-line errors at start.
/// </summary>
[Collection("heavy")]
public sealed class ServeRbdTests(MemstoreCephCluster cluster) : IClassFixture<MemstoreCephCluster>
{
    private const int TestTimeoutMilliseconds = 180_000;
    private static readonly TimeSpan s_toolTimeout = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan s_readyTimeout = TimeSpan.FromSeconds(45);
    private static readonly TimeSpan s_exitTimeout = TimeSpan.FromSeconds(20);

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task QemuImgConvert_IntoRbdExport_CompareEqual_RbdExportMatches_MapShowsHoles()
    {
        cluster.Require();
        ExternalTool.Require("qemu-img", "qemu-io", "nbdinfo");
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string qcow2 = Path.Combine(directory, "source.qcow2");
            string raw = Path.Combine(directory, "source.raw");
            string exported = Path.Combine(directory, "exported.raw");
            await ExternalTool.RunCheckedAsync("qemu-img", ["create", "-q", "-f", "qcow2", qcow2, "32M"], s_toolTimeout);
            await ExternalTool.RunCheckedAsync("qemu-io", ["-f", "qcow2", "-c", "write -P 0xab 4M 2M", "-c", "write -P 0x5c 20M 512k", qcow2], s_toolTimeout);
            await ExternalTool.RunCheckedAsync("qemu-img", ["convert", "-f", "qcow2", "-O", "raw", qcow2, raw], s_toolTimeout);

            await using CliProcess serve = Start("convert", "create=32M");
            string uri = await ReadyAsync(serve, TestContext.Current.CancellationToken);
            await ExternalTool.RunCheckedAsync("qemu-img", ["convert", "-n", "-f", "qcow2", "-O", "raw", qcow2, uri], s_toolTimeout);
            await ExternalTool.RunCheckedAsync("qemu-img", ["compare", "-f", "qcow2", "-F", "raw", qcow2, uri], s_toolTimeout);

            // Objects are 4 MiB: object 1 (4-8 MiB) and object 5 (20-24 MiB) hold data, the rest are holes.
            ToolResult map = await ExternalTool.RunCheckedAsync("nbdinfo", ["--map", uri], s_toolTimeout);
            Assert.Matches(@"(?m)^\s+0\s+4194304\s+3\s+hole,zero", map.StandardOutput);
            Assert.Matches(@"(?m)^\s+4194304\s+4194304\s+0\s+data", map.StandardOutput);
            Assert.Matches(@"(?m)^\s+20971520\s+4194304\s+0\s+data", map.StandardOutput);
            await StopAsync(serve, Libc.SigTerm);

            await cluster.RbdAsync("export", "rbd/convert", exported);
            Assert.Equal(await TestFiles.Sha256Async(raw), await TestFiles.Sha256Async(exported));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task NbdCopy_InAndOut_Sha256Equal()
    {
        cluster.Require();
        ExternalTool.Require("nbdcopy");
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string source = Path.Combine(directory, "source.bin");
            string copy = Path.Combine(directory, "copy.bin");
            await TestFiles.WriteRandomAsync(source, 24L << 20, seed: 14);
            await using CliProcess serve = Start("copy", "create=24M");
            string uri = await ReadyAsync(serve, TestContext.Current.CancellationToken);
            await ExternalTool.RunCheckedAsync("nbdcopy", ["--connections=2", "--requests=16", "--flush", source, uri], s_toolTimeout);
            await ExternalTool.RunCheckedAsync("nbdcopy", [uri, copy], s_toolTimeout);
            Assert.Equal(await TestFiles.Sha256Async(source), await TestFiles.Sha256Async(copy));
            await StopAsync(serve, Libc.SigTerm);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task FioVerify_RandomWritesAtDepth32_ReadBackVerified()
    {
        cluster.Require();
        ExternalTool.Require("fio");
        await using CliProcess serve = Start("fio", "create=16M");
        string uri = await ReadyAsync(serve, TestContext.Current.CancellationToken);
        ToolResult fio = await ExternalTool.RunCheckedAsync(
            "fio",
            ["--name=verify", "--ioengine=nbd", $"--uri={uri}", "--rw=randwrite", "--bs=4k", "--iodepth=32", "--size=16M",
             "--verify=crc32c", "--verify_fatal=1", "--do_verify=1", "--randrepeat=0", "--output-format=terse"],
            s_toolTimeout);
        Assert.DoesNotContain("verify:", fio.StandardError, StringComparison.Ordinal);
        await StopAsync(serve, Libc.SigTerm);
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Snapshot_ServedReadOnly_ShowsTheSnapshotNotLaterWrites()
    {
        cluster.Require();
        ExternalTool.Require("qemu-io", "nbdinfo");
        await using (CliProcess serve = Start("snapped", "create=8M"))
        {
            string uri = await ReadyAsync(serve, TestContext.Current.CancellationToken);
            await ExternalTool.RunCheckedAsync("qemu-io", ["-f", "raw", "-c", "write -P 0x11 0 1M", "-c", "flush", uri], s_toolTimeout);
            await StopAsync(serve, Libc.SigTerm);
        }

        await cluster.RbdAsync("snap", "create", "rbd/snapped@s1");
        await using (CliProcess serve = Start("snapped", string.Empty))
        {
            string uri = await ReadyAsync(serve, TestContext.Current.CancellationToken);
            await ExternalTool.RunCheckedAsync("qemu-io", ["-f", "raw", "-c", "write -P 0x22 0 1M", "-c", "flush", uri], s_toolTimeout);
            await StopAsync(serve, Libc.SigTerm);
        }

        await using CliProcess snap = Start("snapped", "snap=s1");
        string snapUri = await ReadyAsync(snap, TestContext.Current.CancellationToken);
        ToolResult info = await ExternalTool.RunCheckedAsync("nbdinfo", [snapUri], s_toolTimeout);
        Assert.Contains("is_read_only: true", info.StandardOutput, StringComparison.Ordinal);
        await ExternalTool.RunCheckedAsync("qemu-io", ["-f", "raw", "-r", "-c", "read -P 0x11 0 1M", snapUri], s_toolTimeout);
        ToolResult write = await ExternalTool.RunAsync("qemu-io", ["-f", "raw", "-c", "write -P 0x33 0 4k", snapUri], s_toolTimeout);
        Assert.True(write.ExitCode != 0 || (write.StandardOutput + write.StandardError).Contains("failed", StringComparison.OrdinalIgnoreCase), write.StandardOutput + write.StandardError);
        await StopAsync(snap, Libc.SigTerm);
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task SecondServer_SameImage_RefusedByTheExclusiveLock_FirstServesOn()
    {
        cluster.Require();
        ExternalTool.Require("qemu-io");
        await using CliProcess first = Start("locked", "create=8M");
        string uri = await ReadyAsync(first, TestContext.Current.CancellationToken);
        ToolResult second = await BlkmqCli.RunAsync(["serve", "--listen", "127.0.0.1:0", "--export", $"vm=rbd:image=locked,conf={cluster.Conf}"], s_readyTimeout, TestContext.Current.CancellationToken);
        Assert.NotEqual(0, second.ExitCode);
        Assert.Equal("blkmq serve: rbd: rbd/locked: another client holds the image's exclusive lock (serve with exclusive=0 to share it, or readonly=1).", second.StandardError.Trim());
        await ExternalTool.RunCheckedAsync("qemu-io", ["-f", "raw", "-c", "write -P 0x44 0 64k", "-c", "read -P 0x44 0 64k", uri], s_toolTimeout);

        // A read-only server takes no lock and may run beside the writer.
        await using CliProcess reader = Start("locked", "readonly=1");
        string readerUri = await ReadyAsync(reader, TestContext.Current.CancellationToken);
        await ExternalTool.RunCheckedAsync("qemu-io", ["-f", "raw", "-r", "-c", "read -P 0x44 0 64k", readerUri], s_toolTimeout);
        await StopAsync(reader, Libc.SigTerm);
        await StopAsync(first, Libc.SigTerm);
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task SigKill_AfterFlush_RbdExportHasTheData()
    {
        cluster.Require();
        ExternalTool.Require("nbdcopy");
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string source = Path.Combine(directory, "source.bin");
            string exported = Path.Combine(directory, "exported.bin");
            await TestFiles.WriteRandomAsync(source, 8L << 20, seed: 41);
            await using (CliProcess serve = Start("killed", "create=8M"))
            {
                string uri = await ReadyAsync(serve, TestContext.Current.CancellationToken);
                await ExternalTool.RunCheckedAsync("nbdcopy", ["--flush", source, uri], s_toolTimeout);
                serve.Signal(Libc.SigKill);
                await serve.WaitForExitAsync(s_exitTimeout, TestContext.Current.CancellationToken);
            }

            await cluster.RbdAsync("export", "rbd/killed", exported);
            Assert.Equal(await TestFiles.Sha256Async(source), await TestFiles.Sha256Async(exported));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task BadInput_MissingImagePoolOrCluster_OneLineErrorAtStart()
    {
        cluster.Require();
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            await AssertRefusedAsync($"image=absent,conf={cluster.Conf}", "blkmq serve: rbd: rbd/absent: image 'absent' does not exist in pool 'rbd' (create=SIZE creates it).");
            await AssertRefusedAsync($"pool=nopool,image=x,conf={cluster.Conf}", "blkmq serve: rbd: nopool/x: pool 'nopool' does not exist.");

            // A configuration naming a monitor nobody listens on: refused after connect_timeout, not a hang.
            string dead = Path.Combine(directory, "dead.conf");
            await System.IO.File.WriteAllTextAsync(dead, "[global]\nmon host = v1:127.0.0.1:9\nauth client required = none\n", TestContext.Current.CancellationToken);
            await AssertRefusedAsync($"image=x,conf={dead},connect_timeout=3", "blkmq serve: rbd: rbd/x: cannot connect to the Ceph cluster: no monitor answered within 3 s (is the cluster up and mon_host right?).");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static async Task AssertRefusedAsync(string parameters, string expected)
    {
        ToolResult result = await BlkmqCli.RunAsync(["serve", "--listen", "127.0.0.1:0", "--export", "vm=rbd:" + parameters], s_readyTimeout, TestContext.Current.CancellationToken);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Equal(expected, result.StandardError.Trim());
        BlkmqCli.AssertNoStackTrace(result);
    }

    private CliProcess Start(string image, string extra) =>
        BlkmqCli.Start(["serve", "--listen", "127.0.0.1:0", "--export", $"vm=rbd:image={image},conf={cluster.Conf}" + (extra.Length > 0 ? "," + extra : string.Empty)]);

    private static async Task<string> ReadyAsync(CliProcess serve, CancellationToken cancellationToken) =>
        (await serve.ReadLinesAsync(1, s_readyTimeout, cancellationToken))[0];

    private static async Task StopAsync(CliProcess serve, int signal)
    {
        serve.Signal(signal);
        int exitCode = await serve.WaitForExitAsync(s_exitTimeout, TestContext.Current.CancellationToken);
        Assert.True(exitCode == 0, $"exit {exitCode}\n{serve.Describe()}");
    }
}
