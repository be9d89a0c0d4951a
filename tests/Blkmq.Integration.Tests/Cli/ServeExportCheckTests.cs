using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests.Cli;

/// <summary>
/// <c>blkmq serve</c> checks its whole command line before it creates anything: a refused one leaves no file behind
/// and builds no disk; and <c>blkmq serve FILE</c> serves a file whatever characters its name holds.
/// </summary>
public sealed class ServeExportCheckTests
{
    private const int TestTimeoutMilliseconds = 120_000;

    private static readonly TimeSpan s_toolTimeout = TimeSpan.FromSeconds(60);

    [Theory(Timeout = TestTimeoutMilliseconds)]
    [InlineData("b=memory|bogus", "--export 'b=memory|bogus': unknown filter 'bogus'")]
    [InlineData("a=memory", "--export 'a=memory': export name 'a' is used twice")]
    [InlineData("=memory", "--export '=memory': expected NAME=DRIVER")]
    [InlineData("b=floppy", "--export 'b=floppy': unknown driver 'floppy'")]
    [InlineData("b=memory:size=0", "--export 'b=memory:size=0': size must be a positive multiple of bs (512).")]
    [InlineData("b=file:path=other.img,queues=0", "--export 'b=file:path=other.img,queues=0': file: queues must be 1 to 64.")]
    [InlineData("b=file:path=other.img,create=100", "--export 'b=file:path=other.img,create=100': file: create=100 is not a multiple of 512 bytes")]
    [InlineData("b=file:path=other.img,create=1M,readonly=1", "--export 'b=file:path=other.img,create=1M,readonly=1': file: create=SIZE conflicts with readonly=1")]
    public async Task RefusedCommandLine_CreatesNoFile_AndBuildsNoDisk(string second, string message)
    {
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string created = Path.Combine(directory, "created.img");
            ToolResult result = await BlkmqCli.RunAsync(
                ["serve", "--export", $"a=file:path={created},create=10M", "--export", second, "--listen", "127.0.0.1:0"],
                s_toolTimeout,
                TestContext.Current.CancellationToken);
            Assert.True(result.ExitCode == 2, $"exit {result.ExitCode}\n{result.StandardError}");
            Assert.Equal(string.Empty, result.StandardOutput);
            Assert.Equal("blkmq serve: " + message, result.StandardError.Trim()[..("blkmq serve: " + message).Length]);

            // One line: no disk was added (and removed) before the error.
            Assert.Single(result.StandardError.Trim().Split('\n'));
            Assert.DoesNotContain("(Parameter", result.StandardError, StringComparison.Ordinal);
            Assert.False(File.Exists(created), "the refused command line created " + created);
            BlkmqCli.AssertNoStackTrace(result);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>
    /// <c>serve --read-only</c> gives the file driver <c>readonly=1</c>: with <c>create=</c> that is refused in one line
    /// naming the conflict while the command line is checked, not "no such file" once the disks are being made.
    /// </summary>
    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task ReadOnlyServer_WithCreate_RefusedInOneLineAsAConflict_NothingCreated()
    {
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string created = Path.Combine(directory, "created.img");
            string export = $"a=file:path={created},create=1M";
            ToolResult result = await BlkmqCli.RunAsync(
                ["serve", "--read-only", "--export", export, "--listen", "127.0.0.1:0"],
                s_toolTimeout,
                TestContext.Current.CancellationToken);
            Assert.True(result.ExitCode == 2, $"exit {result.ExitCode}\n{result.StandardError}");
            Assert.Equal(string.Empty, result.StandardOutput);
            Assert.StartsWith($"blkmq serve: --export '{export}': file: create=SIZE conflicts with readonly=1 (or serve --read-only)", result.StandardError, StringComparison.Ordinal);
            Assert.Single(result.StandardError.Trim().Split('\n'));
            Assert.False(File.Exists(created), "the refused command line created " + created);
            BlkmqCli.AssertNoStackTrace(result);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>
    /// Two exports whose disks would share a name (a memory export's disk NAME0, a file export named NAME0; a name=
    /// given twice) are refused in one line naming both, before either disk exists: their metrics would merge.
    /// </summary>
    [Theory(Timeout = TestTimeoutMilliseconds)]
    [InlineData("a=memory:size=1M", "a0=file:path=CREATED,create=1M", "a0")]
    [InlineData("a=memory:size=1M|stats", "a0=file:path=CREATED,create=1M", "a0")]
    [InlineData("a=memory:size=1M,nr_devices=3", "b=file:path=CREATED,create=1M,name=a2", "a2")]
    [InlineData("a=null", "b=memory:name=a", "a0")]
    public async Task ExportsWhoseDisksShareAName_RefusedInOneLineNamingBoth_NothingCreated(string first, string second, string disk)
    {
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string created = Path.Combine(directory, "created.img");
            second = second.Replace("CREATED", created, StringComparison.Ordinal);
            ToolResult result = await BlkmqCli.RunAsync(
                ["serve", "--export", first, "--export", second, "--listen", "127.0.0.1:0"],
                s_toolTimeout,
                TestContext.Current.CancellationToken);
            Assert.True(result.ExitCode == 2, $"exit {result.ExitCode}\n{result.StandardError}");
            Assert.Equal(string.Empty, result.StandardOutput);
            Assert.StartsWith($"blkmq serve: --export '{first}' and --export '{second}' both make a disk named '{disk}'", result.StandardError, StringComparison.Ordinal);
            Assert.Single(result.StandardError.Trim().Split('\n'));
            Assert.False(File.Exists(created), "the refused command line created " + created);
            BlkmqCli.AssertNoStackTrace(result);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>
    /// What only a built disk can refuse (a filter's value, a filter over the wrong disk, a FUSE mount point that does
    /// not exist) comes after the disks are made: the files this start created go again.
    /// </summary>
    [Theory(Timeout = TestTimeoutMilliseconds)]
    [InlineData("--export", "a=file:path=CREATED,create=10M|delay:read=NaN", "filter 'delay': read=NaN is not a duration")]
    [InlineData("--export", "a=file:path=CREATED,create=10M|partition:partition=1", "filter 'partition': the disk has no MBR or GPT partition table")]
    [InlineData("--fuse", "MISSING", "")]
    public async Task StartFailingAfterTheDisksExist_RemovesTheFilesItCreated(string option, string value, string message)
    {
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string created = Path.Combine(directory, "created.img");
            string other = Path.Combine(directory, "other.img");
            List<string> arguments = ["serve", "--export", $"b=file:path={other},create=1M", "--listen", "127.0.0.1:0"];
            arguments.AddRange(option == "--fuse"
                ? ["--fuse", Path.Combine(directory, "no", "such", "dir"), "--export", $"a=file:path={created},create=10M"]
                : [option, value.Replace("CREATED", created, StringComparison.Ordinal)]);
            ToolResult result = await BlkmqCli.RunAsync(arguments, s_toolTimeout, TestContext.Current.CancellationToken);
            Assert.True(result.ExitCode != 0, $"exit {result.ExitCode}\n{result.StandardError}");
            Assert.Equal(string.Empty, result.StandardOutput);
            Assert.Contains(message, result.StandardError, StringComparison.Ordinal);
            Assert.False(File.Exists(created), "the failed start left " + created + "\n" + result.StandardError);
            Assert.False(File.Exists(other), "the failed start left " + other + "\n" + result.StandardError);
            BlkmqCli.AssertNoStackTrace(result);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task CreatedFile_StaysAfterANormalStop()
    {
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string created = Path.Combine(directory, "created.img");
            ToolResult result = await BlkmqCli.RunAsync(
                ["serve", "--export", $"a=file:path={created},create=1M", "--listen", "unix:-", "--run", "true"],
                s_toolTimeout,
                TestContext.Current.CancellationToken);
            Assert.True(result.ExitCode == 0, result.StandardError);
            Assert.Equal(1L << 20, new FileInfo(created).Length);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task BadListenAddress_CreatesNoFile()
    {
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string created = Path.Combine(directory, "created.img");
            ToolResult result = await BlkmqCli.RunAsync(
                ["serve", "--export", $"a=file:path={created},create=10M", "--listen", "nowhere", "--max-connections", "5"],
                s_toolTimeout,
                TestContext.Current.CancellationToken);
            Assert.Equal(2, result.ExitCode);
            Assert.Contains("--listen 'nowhere'", result.StandardError, StringComparison.Ordinal);
            Assert.False(File.Exists(created));

            result = await BlkmqCli.RunAsync(
                ["serve", "--export", $"a=file:path={created},create=10M", "--listen", "127.0.0.1:0", "--max-connections", "0"],
                s_toolTimeout,
                TestContext.Current.CancellationToken);
            Assert.Equal(2, result.ExitCode);
            Assert.Contains("--max-connections", result.StandardError, StringComparison.Ordinal);
            Assert.False(File.Exists(created));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task ServeFile_AnyFileName_IsServed_NamedAfterTheFile()
    {
        ExternalTool.Require("nbdinfo");
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string[] files = ["x,y.img", "p|q.img", "e=f.img", "my disk.img", ".hidden"];
            for (int i = 0; i < files.Length; i++)
            {
                await using FileStream stream = File.Create(Path.Combine(directory, files[i]));
                stream.SetLength((i + 1) << 20);
            }

            ToolResult result = await BlkmqCli.RunAsync(
                ["serve", .. files.Select(f => Path.Combine(directory, f)), "--listen", "unix:-", "--run", "nbdinfo --list --json \"$uri\""],
                s_toolTimeout,
                TestContext.Current.CancellationToken);
            Assert.True(result.ExitCode == 0, $"exit {result.ExitCode}\n{result.StandardOutput}\n{result.StandardError}");
            Assert.Contains("\"export-name\": \"x,y\"", result.StandardOutput, StringComparison.Ordinal);
            Assert.Contains("\"export-name\": \"p|q\"", result.StandardOutput, StringComparison.Ordinal);
            Assert.Contains("\"export-name\": \"e=f\"", result.StandardOutput, StringComparison.Ordinal);

            // A blank would split the export's name in a control command: it becomes '_'.
            Assert.Contains("\"export-name\": \"my_disk\"", result.StandardOutput, StringComparison.Ordinal);

            // A dot file is named without its dot, not "disk".
            Assert.Contains("\"export-name\": \"hidden\"", result.StandardOutput, StringComparison.Ordinal);
            foreach (long size in new[] { 1L << 20, 2L << 20, 3L << 20, 4L << 20, 5L << 20 })
            {
                Assert.Contains($"\"export-size\": {size}", result.StandardOutput, StringComparison.Ordinal);
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task ServeFile_TwoFilesOfOneName_RefusedBeforeOpeningEither()
    {
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            Directory.CreateDirectory(Path.Combine(directory, "a"));
            Directory.CreateDirectory(Path.Combine(directory, "b"));
            File.WriteAllBytes(Path.Combine(directory, "a", "x.img"), new byte[4096]);
            File.WriteAllBytes(Path.Combine(directory, "b", "x.img"), new byte[4096]);
            ToolResult result = await BlkmqCli.RunAsync(
                ["serve", Path.Combine(directory, "a", "x.img"), Path.Combine(directory, "b", "x.img"), "--listen", "127.0.0.1:0"],
                s_toolTimeout,
                TestContext.Current.CancellationToken);
            Assert.Equal(2, result.ExitCode);
            Assert.Contains("export name 'x' is used twice", result.StandardError, StringComparison.Ordinal);
            Assert.Single(result.StandardError.Trim().Split('\n'));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
