using Blkmq.Drivers.Null;
using Blkmq.Fuse;
using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests;

/// <summary>
/// Defect 7 of issue 10: a disk that does not fill read buffers (null without memory backing) must read as zeroes
/// through the FUSE export, never as the bytes an earlier reply (maybe another file's) left in the worker's buffers.
/// </summary>
[Collection("heavy")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class FuseReadBufferTests
{
    [Fact]
    public async Task ReadOfANullFile_AfterReadingAnotherFilesData_ReturnsZeroes()
    {
        FuseRequirements.RequireRootWithFuse();
        await using NullBlock memory = NullBlock.Create("memory_backed=1,size=4M,irqmode=0");
        await using NullBlock empty = NullBlock.Create("size=4M,irqmode=0");
        Assert.False(empty.Disk.ReadsFillBuffers);
        string directory = Directory.CreateTempSubdirectory("blkmq-fuse-").FullName;
        try
        {
            // One worker and no page cache: every read reaches the export through the same buffers.
            await using (FuseExport export = FuseExport.Mount(new FuseExportOptions
            {
                MountPoint = directory,
                Files = [new FuseFile { Name = "memory", Disk = memory.Disk }, new FuseFile { Name = "null", Disk = empty.Disk }],
                Threads = 1,
                DirectIO = true,
            }))
            {
                byte[] secret = new byte[1 << 20];
                new Random(7).NextBytes(secret);
                string memoryPath = Path.Combine(directory, "memory");
                string nullPath = Path.Combine(directory, "null");
                await File.WriteAllBytesAsync(memoryPath, secret, TestContext.Current.CancellationToken);
                Assert.Equal(secret, await ReadAsync(memoryPath, 0, secret.Length));

                // Aligned: straight into the reply buffer.
                byte[] aligned = await ReadAsync(nullPath, 0, 1 << 20);
                Assert.True(aligned.AsSpan().IndexOfAnyExcept((byte)0) < 0, "an aligned read of the null file returned stale bytes");

                // Unaligned: through a bounce buffer, after a read-modify-write used one.
                await using (var file = new FileStream(memoryPath, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, 1))
                {
                    file.Position = 4097;
                    await file.WriteAsync(secret.AsMemory(0, 300_000), TestContext.Current.CancellationToken);
                }

                Assert.Equal(secret.AsSpan(0, 300_000).ToArray(), await ReadAsync(memoryPath, 4097, 300_000));
                byte[] unaligned = await ReadAsync(nullPath, 4097, 300_000);
                Assert.True(unaligned.AsSpan().IndexOfAnyExcept((byte)0) < 0, "an unaligned read of the null file returned stale bytes");
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static async Task<byte[]> ReadAsync(string path, long position, int length)
    {
        byte[] data = new byte[length];
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1);
        file.Position = position;
        await file.ReadExactlyAsync(data, TestContext.Current.CancellationToken);
        return data;
    }
}
