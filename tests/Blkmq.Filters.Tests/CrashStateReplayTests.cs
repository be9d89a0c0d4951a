using Blkmq.Drivers;

namespace Blkmq.Filters.Tests;

/// <summary>
/// <c>blkmq replay --crash SEED</c>: what the target made durable is always there, the writes after it up to the next
/// flush point land or not (every combination over enough seeds, the same one for the same seed), nothing later.
/// </summary>
public sealed class CrashStateReplayTests
{
    [Fact]
    public async Task CrashAfterAFlushPoint_KeepsTheDurable_SamplesTheWindow_NeverPassesTheNextFlush()
    {
        string directory = Directory.CreateTempSubdirectory("blkmq-crash").FullName;
        try
        {
            string log = Path.Combine(directory, "d.log");
            await using (DriverInstance stack = Stacks.Create($"memory:size=1M,bs=4096|log-writes:file={log}"))
            {
                BlockDevice device = stack.Disk.OpenDevice();
                await device.WriteAsync(0, Block(1));
                await device.FlushAsync();
                await device.WriteAsync(4096, Block(2));
                await device.WriteAsync(8192, Block(3));
                await device.FlushAsync();
                await device.WriteAsync(12288, Block(4));
            }

            using WriteLogReader reader = WriteLogReader.Open(log);
            List<WriteLogEntry> entries = reader.ReadEntries();
            int first = WriteLogReplay.FindTarget(entries, null, 1);
            var seen = new HashSet<(byte, byte)>();
            string image = Path.Combine(directory, "img");
            for (int seed = 0; seed < 32; seed++)
            {
                ReplayResult result = WriteLogReplay.Replay(reader, entries, first, image, broken: false, crashSeed: seed);
                byte[] disk = await File.ReadAllBytesAsync(image);
                Assert.Equal(1, disk[0]);
                Assert.Equal(0, disk[12288]);
                Assert.Equal(2, result.CrashWindow);
                Assert.Equal((disk[4096] == 2 ? 1 : 0) + (disk[8192] == 3 ? 1 : 0), result.CrashLanded);
                seen.Add((disk[4096], disk[8192]));

                ReplayResult again = WriteLogReplay.Replay(reader, entries, first, image, broken: false, crashSeed: seed);
                Assert.Equal(result, again);
            }

            Assert.Equal(4, seen.Count);

            // After the last flush point the window runs to the end of the log.
            ReplayResult last = WriteLogReplay.Replay(reader, entries, WriteLogReplay.FindTarget(entries, null, 2), image, broken: false, crashSeed: 7);
            Assert.Equal(1, last.CrashWindow);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static byte[] Block(byte value)
    {
        byte[] block = new byte[4096];
        Array.Fill(block, value);
        return block;
    }
}
