using Blkmq.Drivers.File;

namespace Blkmq.Tests.FileBacked;

/// <summary>
/// The io_uring engine's completions with <c>inline=0</c>: the submitter's continuation runs on the queue's completion runner
/// (<c>blkmq-uring-N-end</c>) or the thread pool, never on the ring thread (rule 10); a continuation that blocks on
/// another IO of the same disk does not stall it (that IO is ended by the thread pool while the runner is busy);
/// data reads back; and a continuation that disposes the disk from the runner ends cleanly.
/// </summary>
public sealed class FileDriverCompletionRunnerTests
{
    [Theory]
    [InlineData(",inline=0")]
    [InlineData(",inline=0,spin=50")]
    public async Task InlineOff_NeverOnTheRing_BlockingContinuationDoesNotStall_DisposeFromTheRunnerEnds(string extra)
    {
        const int Blocks = 128;
        await using FileScope scope = FileScope.Create(FileEngine.IoUring, 4 << 20, extra + FileScope.WritesToTheRing);
        byte[] model = new byte[Blocks * 4096];
        new Random(91).NextBytes(model);

        (int onRunner, int onRing, int blocked, bool disposedOnRunner) = await Task.Run(async () =>
        {
            BlockDevice device = scope.Disk.OpenDevice();
            int runner = 0, ring = 0, blockedReads = 0;
            byte[] read = new byte[4096];
            for (int i = 0; i < Blocks; i++)
            {
                await device.WriteAsync(i * 4096L, model.AsMemory(i * 4096, 4096));
                string? name = Thread.CurrentThread.Name;
                ring += name is { } n && n.StartsWith("blkmq-uring-", StringComparison.Ordinal) && !n.EndsWith("-end", StringComparison.Ordinal) ? 1 : 0;
                if (name?.EndsWith("-end", StringComparison.Ordinal) == true)
                {
                    runner++;

                    // Synchronous wait on the runner for an IO of the same queue: it must be ended by someone else.
                    device.ReadAsync(i * 4096L, read).AsTask().GetAwaiter().GetResult();
                    Assert.True(model.AsSpan(i * 4096, 4096).SequenceEqual(read), $"block {i} reads back");
                    blockedReads++;
                }
            }

            for (int i = 0; i < Blocks; i += 5)
            {
                await device.ReadAsync(i * 4096L, read);
                Assert.True(model.AsSpan(i * 4096, 4096).SequenceEqual(read), $"block {i} reads back");
            }

            // Dispose from the runner if this continuation landed there; otherwise from wherever it is.
            await device.FlushAsync();
            bool onRunnerThread = Thread.CurrentThread.Name?.EndsWith("-end", StringComparison.Ordinal) == true;
            await scope.CloseAsync();
            return (runner, ring, blockedReads, onRunnerThread);
        }, TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);

        Assert.Equal(0, onRing);
        Assert.True(onRunner > 0, "some continuations ran on the completion runner");
        Assert.Equal(onRunner, blocked);
        _ = disposedOnRunner; // either thread: disposing must end, which the await above proved
        byte[] file = await System.IO.File.ReadAllBytesAsync(scope.ImagePath, TestContext.Current.CancellationToken);
        Assert.True(model.AsSpan().SequenceEqual(file.AsSpan(0, model.Length)), "the file holds what was written");
    }
}
