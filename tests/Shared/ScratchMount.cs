namespace Blkmq.Tests.Shared;

/// <summary>
/// A small file system (ramfs, a size-limited tmpfs) mounted on a new temp directory for one test (root only: the test
/// is skipped otherwise), unmounted and removed on disposal.
/// </summary>
internal sealed class ScratchMount : IAsyncDisposable
{
    private ScratchMount(string path) => Path = path;

    public string Path { get; }

    /// <summary>Mounts a <paramref name="type"/> file system with <paramref name="options"/> (<c>-o</c>), if any.</summary>
    public static async Task<ScratchMount> CreateAsync(string type, string? options = null)
    {
        string path = Directory.CreateTempSubdirectory($"blkmq-{type}-").FullName;
        string[] arguments = options is null ? ["-t", type, type, path] : ["-t", type, "-o", options, type, path];
        if (await RunAsync("mount", arguments) != 0)
        {
            Directory.Delete(path);
            Assert.Skip($"mounting a {type} needs root");
        }

        return new ScratchMount(path);
    }

    public async ValueTask DisposeAsync()
    {
        await RunAsync("umount", Path);
        Directory.Delete(Path, recursive: true);
    }

    private static async Task<int> RunAsync(string file, params string[] arguments)
    {
        using var process = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(file, arguments) { RedirectStandardError = true, UseShellExecute = false })!;
        await process.WaitForExitAsync();
        return process.ExitCode;
    }
}
