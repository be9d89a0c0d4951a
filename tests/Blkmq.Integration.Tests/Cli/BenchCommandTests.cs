using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Blkmq.Integration.Tests.Cli.Interop;
using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests.Cli;

/// <summary>
/// <c>blkmq bench</c> run as a process, as a user runs it: short counted runs (<c>--ios</c>) in every completion mode,
/// their JSON and terse reports, the SVG plot, and usage errors. Figures are checked for consistency only (counts,
/// percentile order, a timer that never fires early), never for speed.
/// </summary>
public sealed partial class BenchCommandTests
{
    /// <summary>IOs per run: divisible by ten, since the first tenth is warmup (BenchJob: TotalIos / 10).</summary>
    private const int Ios = 10_000;
    private const int MeasuredIos = Ios - (Ios / 10);

    /// <summary>Per test, so that a hung run fails its test instead of the suite; each run is also killed at <see cref="s_runTimeout"/>.</summary>
    private const int TestTimeoutMilliseconds = 60_000;

    private static readonly TimeSpan s_runTimeout = TimeSpan.FromSeconds(30);

    /// <summary>The completion modes by name: null_blk's irqmode 0, 1, 2 and polled queues.</summary>
    private static readonly Dictionary<string, string[]> s_modes = new(StringComparer.Ordinal)
    {
        ["none"] = ["--irqmode", "0"],
        ["softirq"] = ["--irqmode", "1"],
        ["timer"] = ["--irqmode", "2", "--completion-nsec", "20000"],
        ["polled"] = ["--poll-queues", "1", "--hipri"],
    };

    [Theory(Timeout = TestTimeoutMilliseconds)]
    [InlineData("none", 2, 4)]
    [InlineData("none", 1, 1)]
    [InlineData("softirq", 2, 4)]
    [InlineData("softirq", 1, 1)]
    [InlineData("timer", 2, 4)]
    [InlineData("timer", 1, 1)]
    [InlineData("polled", 2, 4)]
    [InlineData("polled", 1, 1)]
    public async Task CountedRun_Json_MeasuresNineTenthsOfIos_NoErrors_OrderedPercentiles(string mode, int jobs, int ioDepth)
    {
        ToolResult result = await RunCheckedAsync(["--ios", I(Ios), "--jobs", I(jobs), "--iodepth", I(ioDepth), "--output-format", "json", .. s_modes[mode]], TestContext.Current.CancellationToken);
        using JsonDocument document = JsonDocument.Parse(result.StandardOutput);
        JsonElement root = document.RootElement;
        string context = result.StandardOutput;

        Assert.Equal("blkmq bench", root.GetProperty("tool").GetString());
        JsonElement job = root.GetProperty("job");
        Assert.Equal(Ios, job.GetProperty("ios").GetInt64());
        Assert.Equal(jobs, job.GetProperty("numjobs").GetInt32());
        Assert.Equal(ioDepth, job.GetProperty("iodepth").GetInt32());
        Assert.Equal(mode == "polled", job.GetProperty("hipri").GetBoolean());
        string nullParams = job.GetProperty("driver_params").GetString()!;
        Assert.Contains(mode == "polled" ? "poll_queues=1" : $"irqmode={Array.IndexOf(["none", "softirq", "timer"], mode)},", nullParams, StringComparison.Ordinal);

        Assert.True(MeasuredIos == root.GetProperty("ios").GetInt64(), context);
        Assert.Equal(MeasuredIos * 4096L, root.GetProperty("bytes").GetInt64());
        Assert.True(root.GetProperty("errors").GetInt64() == 0, context);
        Assert.False(root.GetProperty("cancelled").GetBoolean());
        Assert.False(root.TryGetProperty("first_error", out _), context);
        Assert.Equal(MeasuredIos, root.GetProperty("disk_stats").GetProperty("read_ios").GetInt64());
        Assert.True(root.GetProperty("iops").GetDouble() > 0, context);

        AssertOrderedLatencies(root.GetProperty("lat_ns"), context);
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task TimerMode_LatencyNeverBelowCompletionNsec()
    {
        // A timer completion may be late on a busy machine, never early: no upper bound is checked.
        ToolResult result = await RunCheckedAsync(["--irqmode", "2", "--completion-nsec", "200000", "--iodepth", "1", "--ios", "3000", "--output-format", "json"], TestContext.Current.CancellationToken);
        using JsonDocument document = JsonDocument.Parse(result.StandardOutput);
        JsonElement root = document.RootElement;
        Assert.Equal(2700, root.GetProperty("ios").GetInt64());
        Assert.Equal(0, root.GetProperty("errors").GetInt64());
        JsonElement latency = root.GetProperty("lat_ns");
        AssertOrderedLatencies(latency, result.StandardOutput);
        Assert.True(latency.GetProperty("mean").GetDouble() >= 200_000, result.StandardOutput);

        // Percentiles are reported as the highest value of their histogram bucket, so this holds whatever the rounding.
        Assert.True(latency.GetProperty("min").GetInt64() >= 200_000, result.StandardOutput);
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task DiskSmallerThanTheDefaultRegion_IsBenchmarkedWhole()
    {
        // fio's size defaults to the whole file; here to 1 GiB or the whole disk when it is smaller, never an error.
        ToolResult result = await RunCheckedAsync(["--driver", "memory:size=1M", "--rw", "randwrite", "--ios", "1000", "--output-format", "json"], TestContext.Current.CancellationToken);
        using JsonDocument document = JsonDocument.Parse(result.StandardOutput);
        JsonElement root = document.RootElement;
        Assert.Equal(1L << 20, root.GetProperty("job").GetProperty("size").GetInt64());
        Assert.True(root.GetProperty("errors").GetInt64() == 0, result.StandardOutput);
        Assert.Equal(900, root.GetProperty("disk_stats").GetProperty("write_ios").GetInt64());
    }

    /// <summary>
    /// <c>--memory-backed</c> and <c>--blocking</c> take what every driver's flags take; System.CommandLine gave a bool
    /// option only true or false, so the <c>0|1</c> its help shows was "Unrecognized command or argument '0'".
    /// </summary>
    [Theory(Timeout = TestTimeoutMilliseconds)]
    [InlineData("0", "memory_backed=0")]
    [InlineData("1", "memory_backed=1")]
    [InlineData("yes", "memory_backed=1")]
    [InlineData("Off", "memory_backed=0")]
    [InlineData(null, "memory_backed=1")]
    public async Task FlagOptions_TakeEveryBooleanWord(string? value, string expected)
    {
        string[] flag = value is null ? ["--memory-backed"] : ["--memory-backed", value];
        ToolResult result = await RunCheckedAsync(["--driver", "null", .. flag, "--blocking", value ?? "1", "--ios", "1000", "--output-format", "json"], TestContext.Current.CancellationToken);
        using JsonDocument document = JsonDocument.Parse(result.StandardOutput);
        string parameters = document.RootElement.GetProperty("job").GetProperty("driver_params").GetString()!;
        Assert.Contains(expected, parameters, StringComparison.Ordinal);
        Assert.Contains(expected.Replace("memory_backed", "blocking", StringComparison.Ordinal), parameters, StringComparison.Ordinal);
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task ContinueOnError_CountsFailedIos_AndRunsToTheEnd()
    {
        // Every read of the second MiB fails (the error filter); without the option the worker would stop at the first.
        string[] stack = ["--driver", "memory:size=2M|error:range=1M-2M,error=EIO", "--rw", "randread", "--ios", "2000", "--output-format", "json"];
        ToolResult result = await BlkmqCli.RunAsync(["bench", .. stack, "--continue-on-error"], s_runTimeout, TestContext.Current.CancellationToken);
        Assert.True(result.ExitCode == 1, $"{result.CommandLine} exited {result.ExitCode}\n{result.StandardError}");
        using JsonDocument document = JsonDocument.Parse(result.StandardOutput);
        JsonElement root = document.RootElement;
        long errors = root.GetProperty("errors").GetInt64();
        long ios = root.GetProperty("ios").GetInt64();
        Assert.True(errors > 100, result.StandardOutput); // about half of 2000 random reads
        Assert.True(ios > 100, result.StandardOutput);
        Assert.True(errors + ios > 1500, result.StandardOutput);

        ToolResult stopping = await BlkmqCli.RunAsync(["bench", .. stack], s_runTimeout, TestContext.Current.CancellationToken);
        Assert.Equal(1, stopping.ExitCode);
        using JsonDocument first = JsonDocument.Parse(stopping.StandardOutput);
        Assert.Equal(1, first.RootElement.GetProperty("errors").GetInt64());
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Terse_OneLine_WithTheFieldsHelpDocuments()
    {
        ToolResult help = await RunCheckedAsync(["--help"], TestContext.Current.CancellationToken);
        Match documented = TerseFieldsInHelp().Match(help.StandardOutput);
        Assert.True(documented.Success, help.StandardOutput);
        string[] names = documented.Groups[1].Value.Split(';');
        Assert.Equal(23, names.Length);

        ToolResult result = await RunCheckedAsync(["--ios", I(Ios), "--jobs", "2", "--iodepth", "4", "--output-format", "terse"], TestContext.Current.CancellationToken);
        string[] lines = result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        string line = Assert.Single(lines);
        string[] values = line.Split(';');
        Assert.True(names.Length == values.Length, $"help documents {names.Length} fields ({documented.Groups[1].Value}); the line has {values.Length}: {line}");

        var field = names.Zip(values).ToDictionary(static p => p.First, static p => p.Second, StringComparer.Ordinal);
        Assert.Equal("blkmq", values[0]);
        Assert.Equal("1", values[1]);
        Assert.Equal("randread", field["rw"]);
        Assert.Equal("4096", field["bs"]);
        Assert.Equal("4", field["iodepth"]);
        Assert.Equal("2", field["jobs"]);
        Assert.Equal(I(MeasuredIos), field["ios"]);
        Assert.Equal("0", field["errors"]);
        Assert.All(names.Skip(3), name => Assert.True(double.TryParse(field[name], NumberStyles.Float, CultureInfo.InvariantCulture, out _), $"{name}={field[name]} in {line}"));
        long p50 = long.Parse(field["p50"], CultureInfo.InvariantCulture);
        long p99 = long.Parse(field["p99"], CultureInfo.InvariantCulture);
        long max = long.Parse(field["max_ns"], CultureInfo.InvariantCulture);
        Assert.True(p50 > 0 && p50 <= p99 && p99 <= max, line);
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Plot_WritesAnSvgDocument()
    {
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string plot = Path.Combine(directory, "run.svg");
            ToolResult result = await RunCheckedAsync(["--ios", I(Ios), "--jobs", "2", "--iodepth", "4", "--plot", plot], TestContext.Current.CancellationToken);
            Assert.Contains("Results (measured phase)", result.StandardOutput, StringComparison.Ordinal);
            Assert.Contains("Plot written to", result.StandardOutput, StringComparison.Ordinal);

            XDocument svg = XDocument.Load(plot);
            XNamespace ns = "http://www.w3.org/2000/svg";
            Assert.Equal(ns + "svg", svg.Root!.Name);
            Assert.Equal("900", (string?)svg.Root.Attribute("width"));
            Assert.Equal("900", (string?)svg.Root.Attribute("height"));
            Assert.NotEmpty(svg.Descendants(ns + "path"));
            Assert.NotEmpty(svg.Descendants(ns + "text"));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Plot_IntoMissingDirectory_IsRefusedBeforeTheRun_NoStackTrace()
    {
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string plot = Path.Combine(directory, "missing", "run.svg");
            ToolResult result = await BlkmqCli.RunAsync(["bench", "--ios", "1000", "--output-format", "terse", "--plot", plot], s_runTimeout, TestContext.Current.CancellationToken);
            Assert.True(result.ExitCode == 2, $"exit {result.ExitCode}\n{result.StandardError}");
            Assert.Contains($"blkmq bench: --plot {plot}: the directory {Path.GetDirectoryName(plot)} does not exist", result.StandardError, StringComparison.Ordinal);
            BlkmqCli.AssertNoStackTrace(result);

            // Refused before the run, not after it: nothing was measured.
            Assert.Equal(string.Empty, result.StandardOutput);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Theory(Timeout = TestTimeoutMilliseconds)]
    [InlineData("--hipri needs poll queues: add --poll-queues 1", "--hipri", "--ios", "1000")]
    [InlineData("Unrecognized command or argument '--frobnicate'", "--frobnicate")]
    [InlineData("--rw: 'sideways' is not one of read, write", "--rw", "sideways")]
    [InlineData("--runtime must be at least 1ms", "--runtime", "0.0001")]
    [InlineData("--ramp-time: '-1' is not a duration (seconds, or a number with us, ms, s, m or h)", "--ramp-time", "-1")]
    [InlineData("--bs: '4x' is not a size", "--bs", "4x")]
    [InlineData("--memory-backed: 'maybe' is not a boolean (1/0, yes/no, true/false or on/off)", "--memory-backed", "maybe")]
    [InlineData("file: readonly=maybe is not a boolean (1/0, yes/no, true/false or on/off)", "--driver", "file:path=/nonexistent-blkmq-dir/x.img,readonly=maybe")]
    [InlineData("--ios (4) must be at least jobs x iodepth (8)", "--ios", "4", "--jobs", "2", "--iodepth", "4")]
    [InlineData("Give either --runtime or --ios, not both", "--runtime", "1", "--ios", "1000")]
    [InlineData("completion_nsec must be 0 to 10 s", "--irqmode", "2", "--completion-nsec", "-1", "--ios", "1000")]
    [InlineData("unknown driver 'floppy' (known: file, memory, null, rbd; see 'blkmq drivers')", "--driver", "floppy", "--ios", "1000")]
    [InlineData("Unknown null_blk parameter 'frobnicate'", "--driver", "memory:frobnicate=1", "--ios", "1000")]
    [InlineData("--size (134217728) is larger than the disk (67108864 bytes)", "--driver", "memory:size=64M", "--size", "128M", "--ios", "1000")]
    [InlineData("--size: '16777217T' is too large", "--size", "16777217T")]
    [InlineData("--plot /tmp is a directory", "--plot", "/tmp", "--runtime", "30")]
    [InlineData("--plot /nonexistent-blkmq-dir/p.svg: the directory /nonexistent-blkmq-dir does not exist", "--plot", "/nonexistent-blkmq-dir/p.svg", "--runtime", "30")]
    public async Task UsageError_ExitsTwo_WithMessageOnStderr_NoStackTrace(string message, params string[] arguments)
    {
        ToolResult result = await BlkmqCli.RunAsync(["bench", .. arguments], s_runTimeout, TestContext.Current.CancellationToken);
        Assert.True(result.ExitCode == 2, $"{result.CommandLine} exited {result.ExitCode}\nstdout:\n{result.StandardOutput}\nstderr:\n{result.StandardError}");
        Assert.StartsWith("blkmq bench: ", result.StandardError, StringComparison.Ordinal);
        Assert.Contains(message, result.StandardError, StringComparison.Ordinal);
        Assert.Equal(string.Empty, result.StandardOutput);
        BlkmqCli.AssertNoStackTrace(result);
    }

    /// <summary>
    /// A bench refused once its disk is built (a job parameter only the disk can refuse, a filter, a metrics port in
    /// use) removes the file its <c>create=</c> made, as serve does: the same command run again is refused again rather
    /// than finding a file and using it.
    /// </summary>
    [Theory(Timeout = TestTimeoutMilliseconds)]
    [InlineData(2, "--bs (3000) must be a multiple of the disk's block size (512)", "", "--bs", "3000", "--ios", "1000")]
    [InlineData(2, "--size (4194304) is larger than the disk (1048576 bytes)", "", "--size", "4M", "--ios", "1000")]
    [InlineData(2, "unknown filter 'bogus'", "|bogus", "--ios", "1000")]
    [InlineData(1, "--metrics 127.0.0.1:", "", "--metrics", "BUSY", "--ios", "1000")]
    public async Task FailedStart_WithTheDiskBuilt_RemovesTheFileCreateMade(int exitCode, string message, string filters, params string[] arguments)
    {
        string directory = BlkmqCli.CreateTempDirectory();
        using var busy = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        busy.Start();
        try
        {
            string created = Path.Combine(directory, "created.img");
            string[] rest = [.. arguments.Select(a => a == "BUSY" ? busy.LocalEndpoint.ToString()! : a)];
            ToolResult result = await BlkmqCli.RunAsync(["bench", "--driver", $"file:path={created},create=1M{filters}", .. rest], s_runTimeout, TestContext.Current.CancellationToken);
            Assert.True(result.ExitCode == exitCode, $"{result.CommandLine} exited {result.ExitCode}\nstderr:\n{result.StandardError}");
            Assert.StartsWith("blkmq bench: ", result.StandardError, StringComparison.Ordinal);
            Assert.Contains(message, result.StandardError, StringComparison.Ordinal);
            Assert.False(File.Exists(created), "the failed bench left " + created + "\n" + result.StandardError);
            BlkmqCli.AssertNoStackTrace(result);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static void AssertOrderedLatencies(JsonElement latency, string context)
    {
        long min = latency.GetProperty("min").GetInt64();
        long p50 = latency.GetProperty("p50").GetInt64();
        long p90 = latency.GetProperty("p90").GetInt64();
        long p99 = latency.GetProperty("p99").GetInt64();
        long p999 = latency.GetProperty("p99_9").GetInt64();
        long p9999 = latency.GetProperty("p99_99").GetInt64();
        long max = latency.GetProperty("max").GetInt64();
        double mean = latency.GetProperty("mean").GetDouble();
        Assert.True(min > 0, context);
        Assert.True(min <= p50 && p50 <= p90 && p90 <= p99 && p99 <= p999 && p999 <= p9999 && p9999 <= max, context);
        Assert.True(mean > 0 && mean <= max, context);
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Metrics_OnPortZero_SaysOnStderrWhereTheEndpointIs_WhichAnswersDuringTheRun()
    {
        CancellationToken cancellationToken = TestContext.Current.CancellationToken;
        await using CliProcess bench = BlkmqCli.Start(["bench", "--metrics", "127.0.0.1:0", "--runtime", "20s", "--output-format", "terse"]);
        Match line = MetricsLine().Match(string.Empty);
        for (DateTime end = DateTime.UtcNow + s_runTimeout; !line.Success && DateTime.UtcNow < end; await Task.Delay(50, cancellationToken))
        {
            line = MetricsLine().Match(bench.StandardError);
        }

        Assert.True(line.Success, "no metrics line on stderr\n" + bench.Describe());
        Assert.NotEqual(0, int.Parse(line.Groups[1].Value, CultureInfo.InvariantCulture));
        using var http = new HttpClient { Timeout = s_runTimeout };
        string scraped = await http.GetStringAsync(new Uri(line.Value["blkmq bench: metrics in Prometheus format at ".Length..]), cancellationToken);
        Assert.Contains("blkmq_disk_operations_total", scraped, StringComparison.Ordinal);

        // The first Ctrl+C ends the run, which still reports: on stdout, apart from the line on stderr.
        bench.Signal(Libc.SigInt);
        int exitCode = await bench.WaitForExitAsync(s_runTimeout, cancellationToken);
        Assert.True(exitCode == 0, $"exit {exitCode}\n{bench.Describe()}");
        Assert.DoesNotContain("metrics", bench.StandardOutput, StringComparison.Ordinal);
    }

    private static async Task<ToolResult> RunCheckedAsync(string[] benchArguments, CancellationToken cancellationToken)
    {
        ToolResult result = await BlkmqCli.RunAsync(["bench", .. benchArguments], s_runTimeout, cancellationToken);
        Assert.True(result.ExitCode == 0, $"{result.CommandLine} exited {result.ExitCode}\nstdout:\n{result.StandardOutput}\nstderr:\n{result.StandardError}");
        return result;
    }

    private static string I(long value) => value.ToString(CultureInfo.InvariantCulture);

    [GeneratedRegex(@"(?m)^blkmq bench: metrics in Prometheus format at http://127\.0\.0\.1:(\d+)/metrics$")]
    private static partial Regex MetricsLine();

    [GeneratedRegex(@"terse \(one ';'-separated line: ([^)\s]+)\)")]
    private static partial Regex TerseFieldsInHelp();
}
