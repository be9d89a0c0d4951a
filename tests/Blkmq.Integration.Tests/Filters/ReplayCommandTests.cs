using System.Buffers.Binary;
using Blkmq.Integration.Tests.Cli;
using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests.Filters;

/// <summary><c>blkmq replay</c>'s arguments and what it says about a log, on small logs written here entry by entry.</summary>
public sealed class ReplayCommandTests : IDisposable
{
    private const int TestTimeoutMilliseconds = 60_000;
    private const byte Flush = 4; // WriteLogKind.Flush
    private readonly string _directory = BlkmqCli.CreateTempDirectory();

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Theory(Timeout = TestTimeoutMilliseconds)]
    [InlineData("0")]
    [InlineData("-1")]
    public async Task ToFlush_BelowOne_IsRefused(string flush)
    {
        string log = CreateLog("d.log", Flush, Flush);
        string image = Path.Combine(_directory, "rx.img");
        ToolResult result = await BlkmqCli.RunAsync(["replay", log, "--to-flush", flush, "--output", image], FilterServe.ToolTimeout, TestContext.Current.CancellationToken);
        Assert.Equal(2, result.ExitCode);
        Assert.Equal("blkmq replay: --to-flush must be 1 or more.", result.StandardError.Trim());
        Assert.False(File.Exists(image));
    }

    [Theory(Timeout = TestTimeoutMilliseconds)]
    [InlineData(17, false)]
    [InlineData(140, true)]
    public async Task List_LogTornMidEntry_SaysSoOnStandardError(int tornBytes, bool wholeHeader)
    {
        // Three flushes, then the start of a fourth entry: part of its header, or all of a write's header (payload
        // 4096 bytes) and part of its data.
        string log = CreateLog("torn.log", Flush, Flush, Flush);
        byte[] tail = new byte[tornBytes];
        if (wholeHeader)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(tail, 0x45474F4C);
            tail[4] = 1; // WriteLogKind.Write
            BinaryPrimitives.WriteInt32LittleEndian(tail.AsSpan(8), 4096);
            BinaryPrimitives.WriteInt64LittleEndian(tail.AsSpan(16), 4);
            BinaryPrimitives.WriteInt64LittleEndian(tail.AsSpan(32), 4096);
        }

        using (FileStream file = new(log, FileMode.Append))
        {
            file.Write(tail);
        }

        ToolResult list = await BlkmqCli.RunAsync(["replay", log, "--list"], FilterServe.ToolTimeout, TestContext.Current.CancellationToken);
        Assert.Equal(0, list.ExitCode);
        Assert.Equal("entries=3 writes=0 write-zeroes=0 discards=0 flush-points=3 capacity=4096 block-size=512", list.StandardOutput.Trim());
        Assert.Equal($"blkmq replay: {log}: torn tail: {tornBytes} bytes after entry 3 ignored.", list.StandardError.Trim());

        // A log that ends at an entry's end says nothing.
        ToolResult whole = await BlkmqCli.RunAsync(["replay", CreateLog("whole.log", Flush), "--list"], FilterServe.ToolTimeout, TestContext.Current.CancellationToken);
        Assert.Equal(0, whole.ExitCode);
        Assert.Equal(string.Empty, whole.StandardError);
    }

    /// <summary>
    /// Writes a log (docs/crash-testing.md; Blkmq.Filters' WriteLog: a 32-byte header, then 40-byte entry headers) of
    /// one 4 KiB disk with entries of these kinds and no payloads, numbered from 1; returns its path.
    /// </summary>
    private string CreateLog(string name, params byte[] kinds)
    {
        string path = Path.Combine(_directory, name);
        using FileStream file = File.Create(path);
        byte[] header = new byte[32];
        "BLKMQLOG"u8.CopyTo(header);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(8), 1);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(12), 512);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(16), 4096);
        file.Write(header);
        for (int i = 0; i < kinds.Length; i++)
        {
            byte[] entry = new byte[40];
            BinaryPrimitives.WriteUInt32LittleEndian(entry, 0x45474F4C);
            entry[4] = kinds[i];
            BinaryPrimitives.WriteInt64LittleEndian(entry.AsSpan(16), i + 1);
            file.Write(entry);
        }

        return path;
    }
}
