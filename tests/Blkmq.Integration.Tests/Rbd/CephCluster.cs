using Blkmq.Integration.Tests.Cli;
using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests.Rbd;

/// <summary>
/// A one-node Ceph cluster for a test class, started by <c>scripts/ceph-cluster.sh</c> (one monitor, one manager, one
/// OSD on 127.0.0.1, all state in a temp directory) and stopped by its own pids when the class is done. Tests call
/// <see cref="Require"/> first: a cluster that could not start (Ceph not installed) skips them locally and fails them
/// under <c>CI=true</c>.
/// </summary>
public abstract class CephCluster : IAsyncLifetime
{
    private static readonly TimeSpan s_scriptTimeout = TimeSpan.FromSeconds(150);
    private readonly string _store;
    private string? _failure;

    protected CephCluster(string store) => _store = store;

    /// <summary>Gets the cluster's directory.</summary>
    public string Directory { get; } = Path.Combine(Path.GetTempPath(), "blkmq-ceph-" + Guid.NewGuid().ToString("N")[..12]);

    /// <summary>Gets the path of the cluster's ceph.conf.</summary>
    public string Conf => Path.Combine(Directory, "ceph.conf");

    /// <summary>Gets the path of scripts/ceph-cluster.sh.</summary>
    public static string Script { get; } = Path.Combine(BlkmqCli.RepositoryRoot, "scripts", "ceph-cluster.sh");

    /// <summary>Skips (fails under CI) the calling test when the cluster did not start.</summary>
    public void Require()
    {
        if (_failure is null)
        {
            return;
        }

        if (ExternalTool.IsCi)
        {
            Assert.Fail(_failure);
        }

        Assert.Skip(_failure);
    }

    /// <summary>Runs <c>rbd -c CONF ARGS</c> and fails the test on a non-zero exit.</summary>
    internal Task<ToolResult> RbdAsync(params string[] arguments) =>
        ExternalTool.RunCheckedAsync("rbd", ["-c", Conf, .. arguments], TimeSpan.FromSeconds(90));

    /// <summary>Runs the cluster script with <paramref name="command"/> (stop-osd, start-osd, …) on this cluster.</summary>
    internal async Task ScriptAsync(string command, params string[] extra)
    {
        ToolResult result = await ExternalTool.RunAsync("bash", [Script, command, Directory, .. extra], s_scriptTimeout);
        Assert.True(result.ExitCode == 0, $"ceph-cluster.sh {command} failed: {result.StandardError}");
    }

    /// <inheritdoc/>
    public async ValueTask InitializeAsync()
    {
        foreach (string tool in (string[])["ceph-mon", "ceph-osd", "ceph-mgr", "ceph", "rbd"])
        {
            if (ExternalTool.Find(tool) is null)
            {
                _failure = $"Missing test tool {tool} (Ceph); run scripts/install-test-tools.sh.";
                return;
            }
        }

        // One retry: a start that fails once on a loaded machine (a port taken between its choice and the monitor's
        // bind, a command timing out) gets a clean second try; both failures are reported if that fails too.
        string? first = null;
        for (int attempt = 1; attempt <= 2; attempt++)
        {
            ToolResult result = await ExternalTool.RunAsync("bash", [Script, "start", Directory, _store], s_scriptTimeout);
            if (result.ExitCode == 0)
            {
                _failure = null;
                return;
            }

            // The script reports on stderr, its tools partly on stdout: a failure says both, and the exit status.
            string[] output = $"{result.StandardError.Trim()}\n{result.StandardOutput.Trim()}".Split('\n', StringSplitOptions.RemoveEmptyEntries);
            string failure = $"ceph-cluster.sh exit {result.ExitCode}: {string.Join(" | ", output.TakeLast(8))}";
            first ??= failure;
            _failure = $"The test Ceph cluster did not start (first try: {first}; second try: {failure})";
            await ExternalTool.RunAsync("bash", [Script, "stop", Directory], s_scriptTimeout);
            if (System.IO.Directory.Exists(Directory))
            {
                System.IO.Directory.Delete(Directory, recursive: true);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await ExternalTool.RunAsync("bash", [Script, "stop", Directory], s_scriptTimeout);
        GC.SuppressFinalize(this);
    }
}

/// <summary>A memstore cluster: starts in seconds; its data lives in the OSD's memory.</summary>
public sealed class MemstoreCephCluster() : CephCluster("memstore");

/// <summary>A bluestore cluster on a sparse file: its OSD can be stopped and started again with its data.</summary>
public sealed class BluestoreCephCluster() : CephCluster("bluestore");
