using Blkmq.Integration.Tests.Cli;
using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests.Filters;

/// <summary>Each filter against real clients over NBD: qemu-io, nbdinfo, fio.</summary>
public sealed class FilterClientTests
{
    private const int TestTimeoutMilliseconds = 180_000;

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Cow_QemuIoReadsWritesThroughIt_BaseFileUnchanged()
    {
        ExternalTool.Require("qemu-io");
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string image = Path.Combine(directory, "base.img");
            await TestFiles.WriteRandomAsync(image, 8 << 20, seed: 13);
            string before = await TestFiles.Sha256Async(image);
            byte[] baseBytes = await File.ReadAllBytesAsync(image, TestContext.Current.CancellationToken);

            (CliProcess serve, string uri) = await FilterServe.StartAsync($"vm=file:path={image}|cow", TestContext.Current.CancellationToken);
            await using (serve)
            {
                await ExternalTool.RunCheckedAsync("qemu-io", ["-f", "raw", "-c", "write -P 0xaa 1M 64k", "-c", "write -z 3M 8k", "-c", "flush", uri], FilterServe.ToolTimeout);
                ToolResult read = await ExternalTool.RunCheckedAsync("qemu-io", ["-f", "raw", "-c", "read -P 0xaa 1M 64k", "-c", "read -P 0 3M 8k", uri], FilterServe.ToolTimeout);
                Assert.DoesNotContain("Pattern verification failed", read.StandardOutput + read.StandardError, StringComparison.Ordinal);

                // Untouched ranges read as the base does (qemu-io -P checks one byte value, so compare via a dump).
                string dump = Path.Combine(directory, "dump.img");
                await ExternalTool.RunCheckedAsync("qemu-img", ["convert", "-f", "raw", "-O", "raw", uri, dump], FilterServe.ToolTimeout);
                byte[] seen = await File.ReadAllBytesAsync(dump, TestContext.Current.CancellationToken);
                Assert.True(seen.AsSpan(0, 1 << 20).SequenceEqual(baseBytes.AsSpan(0, 1 << 20)), "the range below the write differs from the base");
                Assert.True(seen.AsSpan((1 << 20) + 65536, (2 << 20) - 65536).SequenceEqual(baseBytes.AsSpan((1 << 20) + 65536, (2 << 20) - 65536)), "the range after the write differs from the base");
                await FilterServe.StopAsync(serve);
            }

            Assert.Equal(before, await TestFiles.Sha256Async(image));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Error_InARange_QemuIoSeesEio_ElsewhereReads()
    {
        ExternalTool.Require("qemu-io");
        (CliProcess serve, string uri) = await FilterServe.StartAsync("d=memory:size=8M|error:error=EIO,range=0-64K", TestContext.Current.CancellationToken);
        await using (serve)
        {
            ToolResult bad = await ExternalTool.RunAsync("qemu-io", ["-f", "raw", "-c", "read 0 4k", uri], FilterServe.ToolTimeout);
            Assert.Contains("read failed: Input/output error", bad.StandardOutput + bad.StandardError, StringComparison.Ordinal);
            ToolResult good = await ExternalTool.RunCheckedAsync("qemu-io", ["-f", "raw", "-c", "read -P 0 1M 4k", uri], FilterServe.ToolTimeout);
            Assert.Contains("read 4096/4096 bytes at offset 1048576", good.StandardOutput, StringComparison.Ordinal);
            await FilterServe.StopAsync(serve);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Error_TriggerFile_FailsOnlyWhileItExists_Enospc()
    {
        ExternalTool.Require("qemu-io");
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string trigger = Path.Combine(directory, "fail-now");
            (CliProcess serve, string uri) = await FilterServe.StartAsync($"d=memory:size=8M|error:error=ENOSPC,ops=write,file={trigger}", TestContext.Current.CancellationToken);
            await using (serve)
            {
                await ExternalTool.RunCheckedAsync("qemu-io", ["-f", "raw", "-c", "write -P 1 0 4k", uri], FilterServe.ToolTimeout);
                await File.WriteAllTextAsync(trigger, "x", TestContext.Current.CancellationToken);
                ToolResult failed = await ExternalTool.RunAsync("qemu-io", ["-f", "raw", "-c", "write -P 2 0 4k", uri], FilterServe.ToolTimeout);
                Assert.Contains("write failed: No space left on device", failed.StandardOutput + failed.StandardError, StringComparison.Ordinal);
                await ExternalTool.RunCheckedAsync("qemu-io", ["-f", "raw", "-c", "read -P 1 0 4k", uri], FilterServe.ToolTimeout);
                File.Delete(trigger);
                await ExternalTool.RunCheckedAsync("qemu-io", ["-f", "raw", "-c", "write -P 3 0 4k", "-c", "read -P 3 0 4k", uri], FilterServe.ToolTimeout);
                await FilterServe.StopAsync(serve);
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Theory(Timeout = TestTimeoutMilliseconds)]
    [InlineData("error", "read failed: Input/output error")]
    [InlineData("error-writes", "write failed: Input/output error")]
    public async Task Flakey_Down_QemuIoSeesEio(string mode, string message)
    {
        ExternalTool.Require("qemu-io");
        (CliProcess serve, string uri) = await FilterServe.StartAsync($"d=memory:size=8M|flakey:up=0s,down=600s,mode={mode}", TestContext.Current.CancellationToken);
        await using (serve)
        {
            ToolResult result = await ExternalTool.RunAsync("qemu-io", ["-f", "raw", "-c", mode == "error" ? "read 0 4k" : "write 0 4k", uri], FilterServe.ToolTimeout);
            Assert.Contains(message, result.StandardOutput + result.StandardError, StringComparison.Ordinal);
            await FilterServe.StopAsync(serve);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Flakey_DropWrites_AcknowledgedButNotWritten()
    {
        ExternalTool.Require("qemu-io");
        (CliProcess serve, string uri) = await FilterServe.StartAsync("d=memory:size=8M|flakey:up=0s,down=600s,mode=drop-writes", TestContext.Current.CancellationToken);
        await using (serve)
        {
            await ExternalTool.RunCheckedAsync("qemu-io", ["-f", "raw", "-c", "write -P 0x77 0 4k", uri], FilterServe.ToolTimeout);
            await ExternalTool.RunCheckedAsync("qemu-io", ["-f", "raw", "-c", "read -P 0 0 4k", uri], FilterServe.ToolTimeout);
            await FilterServe.StopAsync(serve);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Offset_NbdinfoSizeAndMap_Shifted()
    {
        ExternalTool.Require("nbdinfo", "qemu-io");
        (CliProcess serve, string uri) = await FilterServe.StartAsync("d=memory:size=16M|offset:offset=1M,range=4M", TestContext.Current.CancellationToken);
        await using (serve)
        {
            ToolResult size = await ExternalTool.RunCheckedAsync("nbdinfo", ["--size", uri], FilterServe.ToolTimeout);
            Assert.Equal("4194304", size.StandardOutput.Trim());
            await ExternalTool.RunCheckedAsync("qemu-io", ["-f", "raw", "-c", "write -P 5 1M 64k", uri], FilterServe.ToolTimeout);
            ToolResult map = await ExternalTool.RunCheckedAsync("nbdinfo", ["--map", uri], FilterServe.ToolTimeout);

            // nbdinfo --map: "offset length type description"; data where the filter wrote, at the filter's offsets.
            string[] lines = map.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            Assert.Contains(lines, static l => l.StartsWith("1048576", StringComparison.Ordinal) && l.Contains("data", StringComparison.Ordinal));
            Assert.Contains(lines, static l => l.StartsWith("0 ", StringComparison.Ordinal) && l.Contains("hole", StringComparison.Ordinal));
            Assert.DoesNotContain(lines, static l => l.StartsWith("2097152 ", StringComparison.Ordinal) && l.Contains("data", StringComparison.Ordinal));
            await FilterServe.StopAsync(serve);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Partition_OfAnMbr_ExposesThatPartition()
    {
        ExternalTool.Require("qemu-io", "nbdinfo");
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string image = Path.Combine(directory, "disk.img");
            // An MBR with two Linux partitions: sectors 2048+4096 and 8192+8192.
            byte[] mbr = new byte[512];
            mbr[446 + 4] = 0x83;
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(mbr.AsSpan(446 + 8), 2048);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(mbr.AsSpan(446 + 12), 4096);
            mbr[462 + 4] = 0x83;
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(mbr.AsSpan(462 + 8), 8192);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(mbr.AsSpan(462 + 12), 8192);
            mbr[510] = 0x55;
            mbr[511] = 0xAA;
            await using (FileStream file = File.Create(image))
            {
                file.SetLength(16 << 20);
                await file.WriteAsync(mbr, TestContext.Current.CancellationToken);
            }
            (CliProcess serve, string uri) = await FilterServe.StartAsync($"p=file:path={image}|partition:partition=2", TestContext.Current.CancellationToken);
            await using (serve)
            {
                ToolResult size = await ExternalTool.RunCheckedAsync("nbdinfo", ["--size", uri], FilterServe.ToolTimeout);
                Assert.Equal((8192 * 512).ToString(System.Globalization.CultureInfo.InvariantCulture), size.StandardOutput.Trim());
                await ExternalTool.RunCheckedAsync("qemu-io", ["-f", "raw", "-c", "write -P 0x3c 0 4k", "-c", "flush", uri], FilterServe.ToolTimeout);
                await FilterServe.StopAsync(serve);
            }

            byte[] bytes = await File.ReadAllBytesAsync(image, TestContext.Current.CancellationToken);
            Assert.All(bytes.AsSpan(8192 * 512, 4096).ToArray(), static b => Assert.Equal(0x3c, b));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Partition_LogicalPartitionsOfAnMbrMadeByParted_AreWhereAndAsLargeAsPartedSays()
    {
        ExternalTool.Require("parted", "qemu-io", "nbdinfo");
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            // A primary, an extended partition and two logical ones in it (5 and 6), as parted lays them out.
            string image = Path.Combine(directory, "disk.img");
            await using (FileStream file = File.Create(image))
            {
                file.SetLength(64 << 20);
            }

            await ExternalTool.RunCheckedAsync("parted", ["-s", image, "mklabel", "msdos", "mkpart", "primary", "1MiB", "9MiB", "mkpart", "extended", "9MiB", "60MiB", "mkpart", "logical", "10MiB", "20MiB", "mkpart", "logical", "21MiB", "59MiB"], FilterServe.ToolTimeout);
            ToolResult print = await ExternalTool.RunCheckedAsync("parted", ["-s", "-m", image, "unit", "B", "print"], FilterServe.ToolTimeout);

            // "N:STARTB:ENDB:SIZEB:...;" per partition: mark each one's first 4 KiB with its number.
            var partitions = new Dictionary<int, (long Start, long Size)>();
            foreach (string line in print.StandardOutput.Split('\n'))
            {
                string[] fields = line.Split(':');
                if (fields.Length > 4 && int.TryParse(fields[0], out int number))
                {
                    partitions[number] = (long.Parse(fields[1].TrimEnd('B'), System.Globalization.CultureInfo.InvariantCulture), long.Parse(fields[3].TrimEnd('B'), System.Globalization.CultureInfo.InvariantCulture));
                }
            }

            Assert.Equal([1, 2, 5, 6], partitions.Keys.Order());
            await using (FileStream file = File.OpenWrite(image))
            {
                foreach ((int number, (long start, _)) in partitions.Where(static p => p.Key != 2))
                {
                    file.Position = start;
                    await file.WriteAsync(Enumerable.Repeat((byte)(0x40 + number), 4096).ToArray(), TestContext.Current.CancellationToken);
                }
            }

            foreach (int number in new[] { 1, 5, 6 })
            {
                (CliProcess serve, string uri) = await FilterServe.StartAsync($"p=file:path={image}|partition:partition={number}", TestContext.Current.CancellationToken);
                await using (serve)
                {
                    ToolResult size = await ExternalTool.RunCheckedAsync("nbdinfo", ["--size", uri], FilterServe.ToolTimeout);
                    Assert.Equal(partitions[number].Size.ToString(System.Globalization.CultureInfo.InvariantCulture), size.StandardOutput.Trim());
                    ToolResult read = await ExternalTool.RunAsync("qemu-io", ["-f", "raw", "-c", $"read -P 0x{0x40 + number:x} 0 4k", uri], FilterServe.ToolTimeout);
                    Assert.True(read.ExitCode == 0 && !read.StandardOutput.Contains("Pattern verification failed", StringComparison.Ordinal), $"partition {number}: {read.StandardOutput}{read.StandardError}");
                    await FilterServe.StopAsync(serve);
                }
            }

            foreach ((int number, string message) in new[] { (2, "is the extended partition"), (7, "no partition 7 (2 logical partitions, 5 to 6)") })
            {
                ToolResult refused = await BlkmqCli.RunAsync(["serve", "--export", $"p=file:path={image}|partition:partition={number}", "--listen", "127.0.0.1:0"], FilterServe.ToolTimeout, TestContext.Current.CancellationToken);
                Assert.True(refused.ExitCode != 0 && refused.StandardError.Contains(message, StringComparison.Ordinal), refused.StandardError);
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task FioVerify_ThroughBlocksizeAndDelay()
    {
        ExternalTool.Require("fio");
        (CliProcess serve, string uri) = await FilterServe.StartAsync("d=memory:size=64M|blocksize:min=4096,max=64K|delay:write=1ms,read=1ms", TestContext.Current.CancellationToken);
        await using (serve)
        {
            ToolResult fio = await ExternalTool.RunAsync(
                "fio",
                ["--name=verify", "--ioengine=nbd", "--uri=" + uri, "--rw=randwrite", "--bs=4k", "--iodepth=16", "--size=4m", "--verify=crc32c", "--do_verify=1", "--verify_fatal=1"],
                FilterServe.ToolTimeout);
            Assert.True(fio.ExitCode == 0, fio.StandardOutput + fio.StandardError);
            Assert.DoesNotContain("verify:", fio.StandardError, StringComparison.Ordinal);
            ToolResult info = await ExternalTool.RunCheckedAsync("nbdinfo", [uri], FilterServe.ToolTimeout);
            Assert.Contains("block_size_minimum: 4096", info.StandardOutput, StringComparison.Ordinal);
            await FilterServe.StopAsync(serve);
        }
    }
}
