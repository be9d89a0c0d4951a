using Blkmq.Drivers.File;

namespace Blkmq.Tests.FileBacked;

/// <summary>
/// <c>inline=1</c> on the io_uring engine: the submitter's continuation runs on the ring thread (and its next IO is
/// submitted from there), the data still reads back and is in the file, and a continuation that disposes the disk
/// from the ring thread ends cleanly instead of the ring thread joining itself.
/// </summary>
public sealed class FileDriverInlineCompletionTests
{
    [Fact]
    public async Task InlineCompletions_ContinuationOnTheRingThread_DataReadsBack_DisposeFromTheRingThreadEnds()
    {
        const int Blocks = 256;
        await using FileScope scope = FileScope.Create(FileEngine.IoUring, 4 << 20, ",inline=1" + FileScope.WritesToTheRing);
        byte[] model = new byte[Blocks * 4096];
        new Random(77).NextBytes(model);

        // No synchronization context in here, so every await resumes where the ring thread ended the request.
        (int onRing, bool disposedOnRing) = await Task.Run(async () =>
        {
            BlockDevice device = scope.Disk.OpenDevice();
            int onRingThread = 0;
            for (int i = 0; i < Blocks; i++)
            {
                await device.WriteAsync(i * 4096L, model.AsMemory(i * 4096, 4096));
                onRingThread += Thread.CurrentThread.Name?.StartsWith("blkmq-uring-", StringComparison.Ordinal) == true ? 1 : 0;
            }

            byte[] read = new byte[4096];
            for (int i = 0; i < Blocks; i += 7)
            {
                await device.ReadAsync(i * 4096L, read);
                Assert.True(model.AsSpan(i * 4096, 4096).SequenceEqual(read), $"block {i} reads back");
            }

            await device.FlushAsync();
            bool ring = Thread.CurrentThread.Name?.StartsWith("blkmq-uring-", StringComparison.Ordinal) == true;
            await scope.CloseAsync();
            return (onRingThread, ring);
        }, TestContext.Current.CancellationToken);

        // All but the first IO or so: an IO that completes before its submitter awaits it resumes synchronously.
        Assert.True(onRing > Blocks / 2, $"{onRing} of {Blocks} continuations ran on the ring thread");
        Assert.True(disposedOnRing, "the disk was disposed from the ring thread");
        byte[] file = await System.IO.File.ReadAllBytesAsync(scope.ImagePath, TestContext.Current.CancellationToken);
        Assert.True(model.AsSpan().SequenceEqual(file.AsSpan(0, model.Length)), "the file holds what was written");
    }
}
