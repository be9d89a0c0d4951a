using System.Globalization;

namespace Blkmq.Integration.Tests.Infrastructure;

/// <summary>
/// A system user without privileges (<c>blkmq-fuse-test</c>), created on first use if missing (idempotently), and
/// commands run as that user through <c>setpriv</c>.
/// </summary>
internal static class UnprivilegedUser
{
    public const string Name = "blkmq-fuse-test";

    private static readonly SemaphoreSlim s_create = new(1, 1);

    /// <summary>Makes sure the user exists; returns its uid and gid.</summary>
    public static async Task<(int Uid, int Gid)> EnsureAsync()
    {
        ExternalTool.Require("setpriv", "useradd", "id");
        await s_create.WaitAsync(TestContext.Current.CancellationToken);
        try
        {
            ToolResult id = await ExternalTool.RunAsync("id", ["-u", Name], TimeSpan.FromSeconds(30));
            if (id.ExitCode != 0)
            {
                // Exit 9: created meanwhile by another process; anything else is a failure.
                ToolResult added = await ExternalTool.RunAsync("useradd", ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", Name], TimeSpan.FromSeconds(30));
                Assert.True(added.ExitCode is 0 or 9, $"useradd {Name}: exit {added.ExitCode}: {added.StandardError}");
            }

            int uid = int.Parse((await ExternalTool.RunCheckedAsync("id", ["-u", Name], TimeSpan.FromSeconds(30))).StandardOutput.Trim(), CultureInfo.InvariantCulture);
            int gid = int.Parse((await ExternalTool.RunCheckedAsync("id", ["-g", Name], TimeSpan.FromSeconds(30))).StandardOutput.Trim(), CultureInfo.InvariantCulture);
            return (uid, gid);
        }
        finally
        {
            s_create.Release();
        }
    }

    /// <summary>
    /// Makes <c>/dev/fuse</c> usable by every user (0666, as Debian's udev rule has it; fusermount3 opens it as the
    /// calling user) for the scope, when this machine has it tighter; the mode is restored on disposal.
    /// </summary>
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public static IDisposable OpenFuseDevice()
    {
        UnixFileMode original = File.GetUnixFileMode("/dev/fuse");
        UnixFileMode open = original | UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite;
        if (open == original)
        {
            return new Restore(null, original);
        }

        File.SetUnixFileMode("/dev/fuse", open);
        return new Restore("/dev/fuse", original);
    }

    /// <summary>
    /// Lets users mount with <c>allow_other</c> (<c>user_allow_other</c> in <c>/etc/fuse.conf</c>) for the scope; the
    /// file is restored (or removed, when there was none) on disposal.
    /// </summary>
    public static IDisposable AllowOtherInFuseConf()
    {
        const string path = "/etc/fuse.conf";
        string? original = File.Exists(path) ? File.ReadAllText(path) : null;
        if (original is not null && original.Split('\n').Any(static line => line.Trim() == "user_allow_other"))
        {
            return new RestoreText(path, original, restore: false);
        }

        File.WriteAllText(path, (original is null or "" || original.EndsWith('\n') ? original : original + "\n") + "user_allow_other\n");
        return new RestoreText(path, original, restore: true);
    }

    /// <summary>The <c>setpriv</c> arguments that run what follows them as the user, with no supplementary groups.</summary>
    public static string[] SetprivPrefix(int uid, int gid) =>
        [$"--reuid={uid}", $"--regid={gid}", "--clear-groups", "--reset-env", "--"];

    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    private sealed class Restore(string? path, UnixFileMode mode) : IDisposable
    {
        public void Dispose()
        {
            if (path is not null)
            {
                File.SetUnixFileMode(path, mode);
            }
        }
    }

    private sealed class RestoreText(string path, string? text, bool restore) : IDisposable
    {
        public void Dispose()
        {
            if (!restore)
            {
                return;
            }

            if (text is null)
            {
                File.Delete(path);
            }
            else
            {
                File.WriteAllText(path, text);
            }
        }
    }
}
