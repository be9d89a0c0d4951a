using System.Security.Cryptography;

namespace Blkmq.Integration.Tests.Infrastructure;

/// <summary>Test data files: random content from a fixed seed, and checksums.</summary>
internal static class TestFiles
{
    /// <summary>Random bytes from <paramref name="seed"/>: the same seed gives the same bytes.</summary>
    public static byte[] Pattern(int length, int seed)
    {
        byte[] data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    public static async Task WriteRandomAsync(string path, long size, int seed)
    {
        var random = new Random(seed);
        byte[] chunk = new byte[1 << 20];
        await using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20, useAsync: true);
        for (long done = 0; done < size; done += chunk.Length)
        {
            random.NextBytes(chunk);
            await file.WriteAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, size - done)));
        }
    }

    public static async Task<string> Sha256Async(string path)
    {
        await using FileStream file = File.OpenRead(path);
        return Convert.ToHexString(await SHA256.HashDataAsync(file));
    }
}
