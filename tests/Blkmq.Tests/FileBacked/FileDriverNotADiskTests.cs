using System.Diagnostics;
using Blkmq.Drivers.File;

namespace Blkmq.Tests.FileBacked;

/// <summary>
/// A path that is neither a regular file nor a block device is refused in one line saying what it is, before it is
/// opened: <c>open(2)</c> of a FIFO for reading waits for a writer, so <c>readonly=1</c> on a FIFO hung the start for ever.
/// </summary>
public sealed class FileDriverNotADiskTests
{
    /// <summary>How long an open may take before the test calls it hung: a guard, not a measurement.</summary>
    private static readonly TimeSpan s_hang = TimeSpan.FromSeconds(10);

    [Theory]
    [InlineData(",readonly=1")]
    [InlineData("")]
    public async Task Fifo_RefusedInOneLine_WithoutWaitingForAWriter(string extra)
    {
        await using FileScope scope = FileScope.CreateDirectory();
        string fifo = Path.Combine(scope.Directory, "pipe");
        MakeFifo(fifo);

        Task<Exception?> open = Task.Run(() => Record.Exception(() => scope.Open(FileDriverOptions.Parse($"path={fifo}{extra}"))));
        Exception? thrown;
        try
        {
            thrown = await open.WaitAsync(s_hang, TestContext.Current.CancellationToken);
        }
        catch (TimeoutException hung)
        {
            // Let the open that waits for a writer go, so the thread does not stay blocked after the test.
            await using (new FileStream(fifo, FileMode.Open, FileAccess.Write))
            {
            }

            _ = await open;
            await scope.CloseAsync();
            throw new TimeoutException($"opening the FIFO {fifo}{extra} waited for a writer for {s_hang.TotalSeconds} s.", hung);
        }

        IOException error = Assert.IsType<IOException>(thrown);
        Assert.Equal($"{fifo} is a FIFO, not a regular file or block device.", error.Message);
    }

    [Fact]
    public async Task Directory_RefusedInOneLine_SayingItIsADirectory()
    {
        await using FileScope scope = FileScope.CreateDirectory();
        IOException error = Assert.Throws<IOException>(() => scope.Open(FileDriverOptions.Parse($"path={scope.Directory},readonly=1")));
        Assert.Equal($"{scope.Directory} is a directory, not a regular file or block device.", error.Message);
    }

    [Fact]
    public async Task CharacterDevice_RefusedInOneLine_SayingItIsOne()
    {
        await using FileScope scope = FileScope.CreateDirectory();
        IOException error = Assert.Throws<IOException>(() => scope.Open(FileDriverOptions.Parse("path=/dev/null,readonly=1")));
        Assert.Equal("/dev/null is a character device, not a regular file or block device.", error.Message);
    }

    private static void MakeFifo(string path)
    {
        using Process mkfifo = Process.Start(new ProcessStartInfo("mkfifo", [path]) { UseShellExecute = false })!;
        mkfifo.WaitForExit();
        Assert.True(mkfifo.ExitCode == 0, $"mkfifo {path} exited {mkfifo.ExitCode}");
    }
}
