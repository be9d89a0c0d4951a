using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Blkmq.Integration.Tests.Cli.Interop;
using Blkmq.Integration.Tests.Infrastructure;

namespace Blkmq.Integration.Tests.Cli;

/// <summary>
/// Issue 15, part 4, as an operator sees it: <c>blkmq serve --metrics 127.0.0.1:0</c> scraped with a real HTTP client
/// while qemu-io writes and reads over NBD, and <c>blkmq stat --json</c> polling a running server's control socket.
/// </summary>
public sealed partial class ServeMetricsTests
{
    private const int TestTimeoutMilliseconds = 120_000;

    private static readonly TimeSpan s_toolTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan s_readyTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan s_exitTimeout = TimeSpan.FromSeconds(10);

    [Theory(Timeout = TestTimeoutMilliseconds)]
    [InlineData("every")]
    [InlineData("sampled")]
    public async Task Scrape_AfterQemuIoWritesAndReads_DiskAndFrontendCountersAndHistogramMove(string latency)
    {
        ExternalTool.Require("qemu-io");
        CancellationToken cancellationToken = TestContext.Current.CancellationToken;
        await using CliProcess serve = BlkmqCli.Start(["serve", "--export", "m=memory:size=64M", "--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0", "--metrics-latency", latency]);
        string uri = (await serve.ReadLinesAsync(1, s_readyTimeout, cancellationToken))[0];
        Uri metrics = await MetricsUriAsync(serve, cancellationToken);
        using var http = new HttpClient { Timeout = s_toolTimeout };

        using HttpResponseMessage first = await http.GetAsync(metrics, cancellationToken);
        Assert.True(first.IsSuccessStatusCode, $"GET {metrics}: {(int)first.StatusCode}");
        Assert.Equal("text/plain", first.Content.Headers.ContentType?.MediaType);
        string before = await first.Content.ReadAsStringAsync(cancellationToken);
        Assert.Contains("service_name=\"blkmq\"", before, StringComparison.Ordinal);

        await ExternalTool.RunCheckedAsync("qemu-io", ["-f", "raw", "-c", "write -P 7 0 1M", "-c", "write -P 8 4M 64k", "-c", "read -P 7 0 64k", uri], s_toolTimeout);
        string after = await http.GetStringAsync(metrics, cancellationToken);

        string where = $"\nbefore:\n{before}\nafter:\n{after}\n{serve.Describe()}";
        Assert.True(Value(after, "blkmq_disk_operations_total", "op", "write") - Value(before, "blkmq_disk_operations_total", "op", "write") >= 2, "disk writes" + where);
        Assert.Equal((1 << 20) + 65536, Value(after, "blkmq_disk_io_bytes_total", "op", "write") - Value(before, "blkmq_disk_io_bytes_total", "op", "write"));
        Assert.True(Value(after, "blkmq_disk_io_bytes_total", "op", "read") - Value(before, "blkmq_disk_io_bytes_total", "op", "read") >= 65536, "disk read bytes" + where);
        Assert.Equal(0, Value(after, "blkmq_disk_errors_total", "op", "write"));
        Assert.Equal(2, Value(after, "blkmq_frontend_requests_total", "op", "write") - Value(before, "blkmq_frontend_requests_total", "op", "write"));
        Assert.Equal((1 << 20) + 65536, Value(after, "blkmq_frontend_io_bytes_total", "direction", "write") - Value(before, "blkmq_frontend_io_bytes_total", "direction", "write"));
        Assert.Equal(1, Value(after, "blkmq_frontend_connections_opened_total", null, null) - Value(before, "blkmq_frontend_connections_opened_total", null, null));
        double durations = Value(after, "blkmq_request_duration_seconds_count", null, null);
        double operations = Value(after, "blkmq_disk_operations_total", null, null);
        if (latency == "every")
        {
            Assert.True(Value(after, "blkmq_request_duration_seconds_count", "op", "write") - Value(before, "blkmq_request_duration_seconds_count", "op", "write") >= 2, "histogram count" + where);
            Assert.True(durations <= operations, $"{durations} recorded of {operations} IOs" + where);
        }
        else
        {
            // The disk's first IO is always a sample (the first of its clock tick); the rest need not be.
            Assert.True(durations >= 1 && durations <= operations, $"{durations} sampled of {operations} IOs" + where);
        }

        serve.Signal(Libc.SigTerm);
        Assert.Equal(0, await serve.WaitForExitAsync(s_exitTimeout, cancellationToken));
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task StatJson_WhileQemuIoWrites_ReportsEveryWriteOnce()
    {
        ExternalTool.Require("qemu-io");
        CancellationToken cancellationToken = TestContext.Current.CancellationToken;
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string control = Path.Combine(directory, "ctl.sock");
            await using CliProcess serve = BlkmqCli.Start(["serve", "--export", "s=memory:size=64M", "--export", "other=null", "--listen", "127.0.0.1:0", "--control", control]);
            string uri = (await serve.ReadLinesAsync(2, s_readyTimeout, cancellationToken))[0];

            await using CliProcess stat = BlkmqCli.Start(["stat", "--control", control, "s", "0.5", "--json"]);

            // The first report is printed after the second sample: every write from now on falls in a later report.
            JsonElement firstReport = JsonDocument.Parse((await stat.ReadLinesAsync(1, s_readyTimeout, cancellationToken))[0]).RootElement;
            JsonElement only = Assert.Single(firstReport.GetProperty("exports").EnumerateArray());
            Assert.Equal("s", only.GetProperty("name").GetString());

            const int Writes = 5;
            string[] commands = [.. Enumerable.Range(0, Writes).SelectMany(static i => new[] { "-c", $"write {i * 65536} 64k" })];
            await ExternalTool.RunCheckedAsync("qemu-io", ["-f", "raw", .. commands, uri], s_toolTimeout);

            double writes = 0;
            double writtenMiB = 0;
            var reports = new List<string>();
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(TimeSpan.FromSeconds(30));
            while (Math.Round(writes) < Writes && !deadline.IsCancellationRequested)
            {
                string line = (await stat.ReadLinesAsync(1, s_readyTimeout, cancellationToken))[0];
                reports.Add(line);
                JsonElement report = JsonDocument.Parse(line).RootElement;
                double seconds = report.GetProperty("interval_s").GetDouble();
                JsonElement export = Assert.Single(report.GetProperty("exports").EnumerateArray());
                writes += export.GetProperty("w_s").GetDouble() * seconds;
                writtenMiB += export.GetProperty("wmib_s").GetDouble() * seconds;
                Assert.Equal(0, export.GetProperty("errors").GetInt64());
            }

            Assert.True(Math.Abs(writes - Writes) < 0.5, $"{writes} writes reported, {Writes} made:\n{string.Join('\n', reports)}");
            Assert.True(Math.Abs(writtenMiB - (Writes * 65536.0 / (1 << 20))) < 0.05, $"{writtenMiB} MiB reported:\n{string.Join('\n', reports)}");

            serve.Signal(Libc.SigTerm);
            Assert.Equal(0, await serve.WaitForExitAsync(s_exitTimeout, cancellationToken));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Stat_BadInput_OneLineErrors()
    {
        CancellationToken cancellationToken = TestContext.Current.CancellationToken;
        string directory = BlkmqCli.CreateTempDirectory();
        try
        {
            string control = Path.Combine(directory, "ctl.sock");
            await using CliProcess serve = BlkmqCli.Start(["serve", "--export", "s=null", "--listen", "127.0.0.1:0", "--control", control]);
            await serve.ReadLinesAsync(1, s_readyTimeout, cancellationToken);

            ToolResult missing = await BlkmqCli.RunAsync(["stat", "--control", control, "nosuch", "--count", "1", "--json"], s_toolTimeout, cancellationToken);
            Assert.Equal(1, missing.ExitCode);
            Assert.Contains("unknown export 'nosuch'", missing.StandardError, StringComparison.Ordinal);
            BlkmqCli.AssertNoStackTrace(missing);

            ToolResult badInterval = await BlkmqCli.RunAsync(["stat", "--control", control, "s", "-1"], s_toolTimeout, cancellationToken);
            Assert.Equal(2, badInterval.ExitCode);
            BlkmqCli.AssertNoStackTrace(badInterval);

            ToolResult noServer = await BlkmqCli.RunAsync(["stat", "--control", Path.Combine(directory, "none.sock")], s_toolTimeout, cancellationToken);
            Assert.Equal(1, noServer.ExitCode);
            Assert.Single(noServer.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            BlkmqCli.AssertNoStackTrace(noServer);

            ToolResult once = await BlkmqCli.RunAsync(["stat", "--control", control], s_toolTimeout, cancellationToken);
            Assert.Equal(0, once.ExitCode);
            Assert.Contains("%util", once.StandardOutput, StringComparison.Ordinal);

            // iostat's order: EXPORT INTERVAL COUNT prints COUNT reports and exits.
            ToolResult three = await BlkmqCli.RunAsync(["stat", "--control", control, "s", "0.1", "3", "--json"], s_toolTimeout, cancellationToken);
            Assert.True(three.ExitCode == 0, three.StandardError);
            Assert.Equal(3, three.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);

            ToolResult intervalFirst = await BlkmqCli.RunAsync(["stat", "--control", control, "1", "s"], s_toolTimeout, cancellationToken);
            Assert.Equal(2, intervalFirst.ExitCode);
            Assert.Contains("EXPORT comes before INTERVAL", intervalFirst.StandardError, StringComparison.Ordinal);

            serve.Signal(Libc.SigTerm);
            Assert.Equal(0, await serve.WaitForExitAsync(s_exitTimeout, cancellationToken));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact(Timeout = TestTimeoutMilliseconds)]
    public async Task Serve_MetricsAddressNotParsable_OneLineErrorExit2()
    {
        ToolResult result = await BlkmqCli.RunAsync(["serve", "--listen", "127.0.0.1:0", "--metrics", "nonsense"], s_toolTimeout, TestContext.Current.CancellationToken);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--metrics 'nonsense'", result.StandardError, StringComparison.Ordinal);
        BlkmqCli.AssertNoStackTrace(result);
    }

    private static async Task<Uri> MetricsUriAsync(CliProcess serve, CancellationToken cancellationToken)
    {
        // serve writes the address to stderr before the export URIs to stdout; stderr may be read a moment later.
        for (int i = 0; i < 100; i++)
        {
            Match match = MetricsLine().Match(serve.StandardError);
            if (match.Success)
            {
                return new Uri(match.Groups[1].Value);
            }

            await Task.Delay(100, cancellationToken);
        }

        Assert.Fail("serve --metrics did not say where the metrics are.\n" + serve.Describe());
        return null!;
    }

    // The sum of the samples of one metric whose label matches (or all of them), in Prometheus' text format.
    private static double Value(string exposition, string metric, string? label, string? labelValue)
    {
        double sum = 0;
        foreach (string line in exposition.Split('\n'))
        {
            if (!line.StartsWith(metric + "{", StringComparison.Ordinal))
            {
                continue;
            }

            if (label is not null && !line.Contains($"{label}=\"{labelValue}\"", StringComparison.Ordinal))
            {
                continue;
            }

            sum += double.Parse(line[(line.LastIndexOf(' ') + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture);
        }

        return sum;
    }

    [GeneratedRegex(@"metrics in Prometheus format at (http://\S+)")]
    private static partial Regex MetricsLine();
}
