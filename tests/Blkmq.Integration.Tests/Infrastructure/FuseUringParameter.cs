namespace Blkmq.Integration.Tests.Infrastructure;

/// <summary>
/// Turns the kernel's FUSE over io_uring on (<c>/sys/module/fuse/parameters/enable_uring</c>) for as long as a test
/// holds the returned scope, and back to what it was when the last scope of this process ends. Turning it on does not
/// change mounts served through <c>/dev/fuse</c>: the kernel uses io_uring only for servers that register rings.
/// </summary>
internal static class FuseUringParameter
{
    private const string Path = "/sys/module/fuse/parameters/enable_uring";
    private static readonly Lock s_lock = new();
    private static int s_holders;
    private static string? s_original;

    /// <summary>Turns the parameter on; skips the test (fails it under <c>CI=true</c>) when the kernel has none.</summary>
    /// <returns>A scope whose disposal restores the parameter once no other test holds it.</returns>
    public static IDisposable Enable() => Set("Y");

    /// <summary>Turns the parameter off for the scope (restored as <see cref="Enable"/>'s).</summary>
    /// <returns>A scope whose disposal restores the parameter once no other test holds it.</returns>
    public static IDisposable Disable() => Set("N");

    private static Scope Set(string value)
    {
        FuseRequirements.RequireRootWithFuse();
        if (!File.Exists(Path))
        {
            string message = $"This test needs a kernel with FUSE over io_uring (Linux 6.14+, {Path}).";
            if (ExternalTool.IsCi)
            {
                Assert.Fail(message);
            }

            Assert.Skip(message);
        }

        lock (s_lock)
        {
            if (s_holders++ == 0)
            {
                s_original = File.ReadAllText(Path).Trim();
            }

            File.WriteAllText(Path, value);
        }

        return new Scope();
    }

    private sealed class Scope : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
            {
                return;
            }

            lock (s_lock)
            {
                if (--s_holders == 0 && s_original is not null)
                {
                    File.WriteAllText(Path, s_original);
                }
            }
        }
    }
}
