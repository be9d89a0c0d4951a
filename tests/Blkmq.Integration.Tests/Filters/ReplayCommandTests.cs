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
