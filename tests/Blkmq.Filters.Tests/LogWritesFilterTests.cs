using Blkmq.Drivers;

namespace Blkmq.Filters.Tests;

/// <summary>
/// log-writes' log file: a file that is not a write log is refused and left as it was, an earlier write log is
/// replaced (the rerun workflow); a mark's name is unique in its log, and replay refuses a name an old log has twice.
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

    [Fact]
    public async Task Mark_DuplicateOrEmptyName_IsRefused_NothingLogged()
    {
        string log = Path.Combine(_directory, "d.log");
        await using (DriverInstance stack = Stacks.Create($"memory:size=1M|log-writes:file={log}"))
        {
            var filter = (LogWritesFilter)FilterStack.FindFilters(stack).Single();
            Assert.Equal(1, filter.Mark("x"));
            Assert.Equal("mark 'x' already exists in this log", Assert.Throws<InvalidOperationException>(() => filter.Mark("x")).Message);
            Assert.Equal("a mark needs a name", Assert.Throws<InvalidOperationException>(() => filter.Mark(string.Empty)).Message);
            Assert.Equal(2, filter.Mark("y"));
        }

        Assert.Equal(["x", "y"], ReadEntries(log).Select(static e => e.MarkName));
    }

    [Fact]
    public void ReplayTo_AMarkNameTheLogHasTwice_IsRefusedAsAmbiguous()
    {
        // A log written before mark names were unique: x at entries 2 and 4.
        string log = Path.Combine(_directory, "old.log");
        using (FileStream file = File.Create(log))
        {
            byte[] header = new byte[WriteLog.FileHeaderSize];
            WriteLog.WriteFileHeader(header, 512, 1 << 20);
            file.Write(header);
            string?[] marks = [null, "x", "y", "x"];
            for (int i = 0; i < marks.Length; i++)
            {
                byte[] payload = marks[i] is string name ? WriteLog.MarkPayload(name) : [];
                byte[] entry = new byte[WriteLog.EntryHeaderSize];
                WriteLog.WriteEntryHeader(entry, marks[i] is null ? WriteLogKind.Flush : WriteLogKind.Mark, false, i + 1, 0, 0, payload.Length);
                file.Write(entry);
                file.Write(payload);
            }
        }

        List<WriteLogEntry> entries = ReadEntries(log);
        Assert.Equal(2, WriteLogReplay.FindTarget(entries, "y", 0));
        FormatException error = Assert.Throws<FormatException>(() => WriteLogReplay.FindTarget(entries, "x", 0));
        Assert.Equal("--to x: ambiguous, the log has 2 marks of that name (entries 2, 4); replay to one with --to-flush N (see --list).", error.Message);
    }

    private static List<WriteLogEntry> ReadEntries(string log)
    {
        using WriteLogReader reader = WriteLogReader.Open(log);
        return reader.ReadEntries();
    }
}
