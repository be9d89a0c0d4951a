using Blkmq.Integration.Tests.Cli.Interop;
using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests.Cli;

/// <summary>
/// <c>blkmq serve --fuse</c> run by a user without privileges (<c>setpriv</c>): it mounts through <c>fusermount3</c>,
/// the user reads and writes the file with <c>dd</c> and <c>cmp</c>, the log names the transport (<c>--fuse-uring</c>),
/// and SIGTERM unmounts (through <c>fusermount3 -u</c>). After SIGKILL nothing stays mounted, on both transports, with
/// and without <c>allow_other</c>: the server's watchdog unmounts, and so does fusermount3 (<c>auto_unmount</c>) where
/// it can tell the mount is dead (see docs/fuse-export.md).
/// </summary>
[Collection("heavy")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ServeFuseUnprivilegedTests
{
    private const int TestTimeoutMilliseconds = 120_000;
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);

    [Theory(Timeout = TestTimeoutMilliseconds)]
    [InlineData("on", Libc.SigTerm, false)]
    [InlineData("off", Libc.SigTerm, false)]
    [InlineData("on", Libc.SigKill, false)]
    [InlineData("off", Libc.SigKill, false)]
    [InlineData("off", Libc.SigKill, true)]
    public async Task NotRoot_MountsThroughFusermount_ReadsAndWrites_AndLeavesNoMount(string fuseUring, int signal, bool userAllowOther)
    {
        ExternalTool.Require("fusermount3", "dd", "cmp", "chown");
        FuseRequirements.RequireRootWithFuse();
        using IDisposable parameter = fuseUring == "on" ? FuseUringParameter.Enable() : FuseUringParameter.Disable();
        (int uid, int gid) = await UnprivilegedUser.EnsureAsync();
        using IDisposable device = UnprivilegedUser.OpenFuseDevice();
        using IDisposable? fuseConf = userAllowOther ? UnprivilegedUser.AllowOtherInFuseConf() : null;
        string directory = BlkmqCli.CreateTempDirectory();
        string mountPoint = Path.Combine(directory, "mnt");
        try
        {
            Directory.CreateDirectory(mountPoint);
            File.SetUnixFileMode(directory, (UnixFileMode)0x1ED); // 0755: the user passes through to its mount point
            await ExternalTool.RunCheckedAsync("chown", [$"{uid}:{gid}", mountPoint], s_timeout);
            string pattern = Path.Combine(directory, "pattern.bin");
            byte[] data = new byte[3 << 20];
            new Random(17).NextBytes(data);
            await File.WriteAllBytesAsync(pattern, data, TestContext.Current.CancellationToken);
            File.SetUnixFileMode(pattern, (UnixFileMode)0x1A4); // 0644

            await using CliProcess serve = CliProcess.Start("setpriv", [
                .. UnprivilegedUser.SetprivPrefix(uid, gid), BlkmqCli.DotnetPath, BlkmqCli.AssemblyPath,
                "serve", "--export", "disk=memory:size=16M", "--listen", "none", "--fuse", mountPoint, "--fuse-uring", fuseUring]);
            IReadOnlyList<string> lines = await serve.ReadLinesAsync(1, s_timeout, TestContext.Current.CancellationToken);
            string file = Path.Combine(mountPoint, "disk");
            Assert.Equal(file, lines[0]);

            // Mounted by fusermount3 for the user: type fuse.blkmq, the user's id, allow_other only with user_allow_other.
            string mount = Assert.Single(File.ReadAllLines("/proc/self/mounts"), line => line.Split(' ')[1] == mountPoint);
            Assert.Contains(" fuse.blkmq ", mount, StringComparison.Ordinal);
            Assert.Contains($"user_id={uid},", mount, StringComparison.Ordinal);
            Assert.Equal(userAllowOther, mount.Contains(",allow_other", StringComparison.Ordinal));
            string transport = fuseUring == "on" ? "FUSE transport: io_uring" : "FUSE transport: /dev/fuse";
            Assert.True(serve.StandardError.Contains(transport, StringComparison.Ordinal), serve.Describe());

            // The user writes 3 MiB at 1 MiB + 512 and reads it back.
            string[] asUser = UnprivilegedUser.SetprivPrefix(uid, gid);
            await ExternalTool.RunCheckedAsync("setpriv", [.. asUser, "dd", "if=" + pattern, "of=" + file, "bs=64k", "seek=1049088", "oflag=seek_bytes", "conv=notrunc,fsync", "status=none"], s_timeout);
            await ExternalTool.RunCheckedAsync("setpriv", [.. asUser, "cmp", "-n", (3 << 20).ToString(System.Globalization.CultureInfo.InvariantCulture), "-i", "0:1049088", pattern, file], s_timeout);

            serve.Signal(signal);
            int exitCode = await serve.WaitForExitAsync(s_timeout, TestContext.Current.CancellationToken);
            if (signal == Libc.SigTerm)
            {
                Assert.True(exitCode == 0, $"exit {exitCode}\n{serve.Describe()}");
            }

            // After SIGTERM the server unmounted; after SIGKILL its watchdog (or fusermount3's auto_unmount) did.
            long deadline = Environment.TickCount64 + 20_000;
            while (File.ReadAllLines("/proc/self/mounts").Any(line => line.Split(' ')[1] == mountPoint) && Environment.TickCount64 < deadline)
            {
                await Task.Delay(100, TestContext.Current.CancellationToken);
            }

            Assert.DoesNotContain(File.ReadAllLines("/proc/self/mounts"), line => line.Split(' ')[1] == mountPoint);
        }
        finally
        {
            await ExternalTool.RunAsync("umount", ["-l", mountPoint], s_timeout);
            Directory.Delete(directory, recursive: true);
        }
    }
}
