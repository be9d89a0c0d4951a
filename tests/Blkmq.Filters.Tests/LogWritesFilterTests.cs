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

    /// <summary>
    /// A damaged log (one field of a sound two-entry log overwritten) is refused with one line naming what is wrong,
    /// never read in a loop (a negative payload length once did, allocating gigabytes) nor replayed out of range.
    /// </summary>
    [Theory]
    [InlineData(8, 2, "damaged write log header: version 2 (this blkmq reads version 1).")]
    [InlineData(12, 3, "damaged write log header: block size 3.")]
    [InlineData(16, 0, "damaged write log header: capacity 0.")]
    [InlineData(20, 0x7fffffff, "damaged write log header: capacity 9223372032560857088.")]
    [InlineData(36, 9, "write log: bad entry at byte 32: unknown kind 9.")]
    [InlineData(40, -40, "write log: bad entry at byte 32: Write of 512 bytes with a payload of -40.")]
    [InlineData(60, 0x7fffffff, "write log: bad entry at byte 32: Write of 512 bytes at 9223372032559808512 on a disk of 1048576 bytes.")]
    [InlineData(56, 1048576, "write log: bad entry at byte 32: Write of 512 bytes at 1048576 on a disk of 1048576 bytes.")]
    [InlineData(56, 100, "write log: bad entry at byte 32: Write of 512 bytes at 100 on a disk of 1048576 bytes.")]
    [InlineData(32 + 40 + 512 + 8, 7, "write log: bad entry at byte 584: flush with a payload of 7.")]
    public void DamagedLog_IsRefusedInOneLine(int at, int value, string message)
    {
        string log = Path.Combine(_directory, "damaged.log");
        var bytes = new List<byte>();
        byte[] header = new byte[WriteLog.FileHeaderSize];
        WriteLog.WriteFileHeader(header, 512, 1 << 20);
        bytes.AddRange(header);
        byte[] entry = new byte[WriteLog.EntryHeaderSize];
        WriteLog.WriteEntryHeader(entry, WriteLogKind.Write, false, 1, 0, 512, 512);
        bytes.AddRange(entry);
        bytes.AddRange(Stacks.Pattern(512, 1));
        WriteLog.WriteEntryHeader(entry, WriteLogKind.Flush, false, 2, 0, 0, 0);
        bytes.AddRange(entry);
        byte[] file = [.. bytes];
        Assert.Equal(2, ReadEntries(Write(file)).Count);

        if (at == 36)
        {
            file[at] = (byte)value; // the kind is one byte (36 = the first entry's byte 4)
        }
        else
        {
            BitConverter.TryWriteBytes(file.AsSpan(at), value);
        }

        IOException error = Assert.Throws<IOException>(() => ReadEntries(Write(file)));
        Assert.Equal(message, error.Message.Replace(log + ": ", string.Empty, StringComparison.Ordinal));

        string Write(byte[] content)
        {
            File.WriteAllBytes(log, content);
            return log;
        }
    }

    private static List<WriteLogEntry> ReadEntries(string log)
    {
        using WriteLogReader reader = WriteLogReader.Open(log);
        return reader.ReadEntries();
    }
}
