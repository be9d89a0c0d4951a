using Blkmq.Drivers.File;

namespace Blkmq.Tests.FileBacked;

/// <summary>
/// A fresh temp directory with a file disk in it; disposing removes the disk and the directory. The directory is on a
/// disk (<see cref="OnDisk"/>) unless the test asks for tmpfs (<see cref="InMemory"/>): on tmpfs the driver does reads
/// and writes inside <c>QueueRq</c>, so tests of the engines' threads would never see them.
/// </summary>
internal sealed class FileScope : IAsyncDisposable
{
    /// <summary>A directory on a real file system (Debian keeps <c>/var/tmp</c> on disk; <c>/tmp</c> may be tmpfs).</summary>
    public const string OnDisk = "/var/tmp";

    /// <summary>
    /// Parameters that send every write to the engine (by default a buffered write is copied into the page cache
    /// inside <c>QueueRq</c>): for tests of what the ring thread and the completion runner do with completions.
    /// </summary>
    public const string WritesToTheRing = ",writes=engine";

    /// <summary>A tmpfs directory.</summary>
    public const string InMemory = "/dev/shm";

    private FileScope(string directory) => Directory = directory;

    public string Directory { get; }

    public string ImagePath => Path.Combine(Directory, "disk.img");

    public FileBlock? Block { get; private set; }

    public Disk Disk => Block!.Disk;

    public static FileScope CreateDirectory(string parent = OnDisk)
    {
        string directory = Path.Combine(parent, "blkmq-file-" + Guid.NewGuid().ToString("N")[..12]);
        System.IO.Directory.CreateDirectory(directory);
        return new FileScope(directory);
    }

    /// <summary>Creates a sparse image of <paramref name="size"/> bytes and a disk on it with <paramref name="engine"/>.</summary>
    public static FileScope Create(FileEngine engine, long size = 16 << 20, string extra = "", string parent = OnDisk)
    {
        FileScope scope = CreateDirectory(parent);
        scope.Open(FileDriverOptions.Parse($"path={scope.ImagePath},create={size},engine={FileDriverOptions.FormatEngine(engine)}{extra}"));
        return scope;
    }

    public FileBlock Open(FileDriverOptions options)
    {
        Block = FileBlock.Create(options with { RequestTimeout = TimeSpan.FromSeconds(30) });
        return Block;
    }

    public async ValueTask CloseAsync()
    {
        if (Block is not null)
        {
            await Block.DisposeAsync();
            Block = null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await CloseAsync();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // Best effort (a mount still busy in a failed test).
        }
    }
}
