using Blkmq.Drivers;

namespace Blkmq.Filters.Tests;

/// <summary>
/// log-writes' log file: a file that is not a write log is refused and left as it was, an earlier write log is
/// replaced (the rerun workflow).
/// </summary>
public sealed class LogWritesFilterTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("blkmq-log-writes-test").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Theory]
    [InlineData(4096)]
    [InlineData(3)]
    public void ExistingFile_NotAWriteLog_IsRefused_LeftAsItWas(int length)
    {
        string victim = Path.Combine(_directory, "victim.img");
        byte[] data = Stacks.Pattern(length, 4);
        File.WriteAllBytes(victim, data);
        IOException error = Assert.Throws<IOException>(() => Stacks.Create($"memory:size=1M|log-writes:file={victim}"));
        Assert.Equal($"filter 'log-writes': file={victim} exists and is not a blkmq write log; give a new path (an earlier log is replaced, any other file is left alone).", error.Message);
        Assert.Equal(data, File.ReadAllBytes(victim));
    }

    [Fact]
    public async Task ExistingWriteLog_IsReplaced_EmptyFileIsUsed()
    {
        string log = Path.Combine(_directory, "d.log");
        await File.WriteAllBytesAsync(log, []);
        await using (DriverInstance first = Stacks.Create($"memory:size=1M|log-writes:file={log}"))
        {
            BlockDevice device = first.Disk.OpenDevice();
            await device.WriteAsync(0, Stacks.Pattern(64 << 10, 1));
            await device.FlushAsync();
        }

        Assert.Equal(2, ReadEntries(log).Count);
        await using (DriverInstance second = Stacks.Create($"memory:size=1M|log-writes:file={log}"))
        {
            await second.Disk.OpenDevice().FlushAsync();
        }

        // Only the second run's flush, and no bytes of the first run's longer log after it.
        List<WriteLogEntry> entries = ReadEntries(log);
        Assert.Equal(WriteLogKind.Flush, Assert.Single(entries).Kind);
        Assert.Equal(WriteLog.FileHeaderSize + WriteLog.EntryHeaderSize, new FileInfo(log).Length);
    }

    private static List<WriteLogEntry> ReadEntries(string log)
    {
        using WriteLogReader reader = WriteLogReader.Open(log);
        return reader.ReadEntries();
    }
}
