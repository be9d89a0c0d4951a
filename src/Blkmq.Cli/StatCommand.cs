using System.CommandLine;
using System.Globalization;
using System.Net.Sockets;
using System.Text.Json;
using Spectre.Console;

namespace Blkmq.Cli;

/// <summary>
/// <c>blkmq stat [--control PATH] [EXPORT] [INTERVAL] [--count N] [--json]</c>: a live, <c>iostat -x</c>-like view of a
/// running <c>blkmq serve --control PATH</c>, polling the control socket's <c>iostat</c> command. Each report covers
/// the interval since the previous sample (the first one, the first interval; without INTERVAL one report over 1 s).
/// Drawn with Spectre.Console; <c>--json</c> prints one JSON object per report and line instead.
/// </summary>
internal sealed class StatCommand : Command
{
    private readonly Option<string> _control = new("--control")
    {
        Description = "The control socket of a running 'blkmq serve --control PATH'. Default: $BLKMQ_CONTROL.",
        HelpName = "path",
    };

    private readonly Argument<string[]> _arguments = new("export-and-interval")
    {
        Description = "[EXPORT] [INTERVAL [COUNT]], as iostat: only that export (default: all); seconds between reports (default: one report over 1 s); reports to print (as --count).",
        Arity = new ArgumentArity(0, 3),
        HelpName = "EXPORT INTERVAL COUNT",
    };

    private readonly Option<int> _count = new("--count", "-c")
    {
        Description = "Reports to print, then exit (default: until Ctrl+C with INTERVAL, 1 without).",
        HelpName = "n",
    };

    private readonly Option<bool> _json = new("--json")
    {
        Description = "One JSON object per report and line, for scripts.",
    };

    public StatCommand()
        : base("stat", "Watch a running 'blkmq serve': IOPS, MiB/s, await, queue size, utilization, in flight and errors per export (iostat -x).")
    {
        Options.Add(_control);
        ArgumentParsers.RefuseUnknownOptions(_arguments);
        Arguments.Add(_arguments);
        Options.Add(_count);
        Options.Add(_json);
        SetAction(Run);
    }

    private int Run(ParseResult parseResult)
    {
        string? path = parseResult.GetValue(_control) ?? Environment.GetEnvironmentVariable("BLKMQ_CONTROL");
        if (string.IsNullOrEmpty(path))
        {
            Console.Error.WriteLine("blkmq stat: --control PATH is needed: the socket of 'blkmq serve --control PATH' (or set BLKMQ_CONTROL).");
            return Program.ExitBadArguments;
        }

        string? export = null;
        double? interval = null;
        int? countArgument = null;
        foreach (string argument in parseResult.GetValue(_arguments) ?? [])
        {
            if (interval is not null && countArgument is null)
            {
                if (!int.TryParse(argument, NumberStyles.None, CultureInfo.InvariantCulture, out int reports) || reports < 1)
                {
                    Console.Error.WriteLine($"blkmq stat: count '{argument}': expected a number of reports, 1 or more (EXPORT comes before INTERVAL).");
                    return Program.ExitBadArguments;
                }

                countArgument = reports;
            }
            else if (double.TryParse(argument, NumberStyles.Float, CultureInfo.InvariantCulture, out double seconds) && interval is null)
            {
                if (seconds is < 0.01 or > 86400 || double.IsNaN(seconds))
                {
                    Console.Error.WriteLine($"blkmq stat: interval '{argument}': expected seconds between 0.01 and 86400.");
                    return Program.ExitBadArguments;
                }

                interval = seconds;
            }
            else if (export is null && interval is null)
            {
                if (string.IsNullOrWhiteSpace(argument))
                {
                    // An empty name would go as "iostat " and report every export, as if none was given.
                    Console.Error.WriteLine("blkmq stat: EXPORT is empty; give an export's name, or leave it out for all.");
                    return Program.ExitBadArguments;
                }

                export = argument;
            }
            else
            {
                Console.Error.WriteLine($"blkmq stat: unexpected argument '{argument}': expected [EXPORT] [INTERVAL [COUNT]].");
                return Program.ExitBadArguments;
            }
        }

        if (countArgument is not null && parseResult.GetResult(_count) is { Implicit: false })
        {
            Console.Error.WriteLine("blkmq stat: give COUNT or --count, not both.");
            return Program.ExitBadArguments;
        }

        int count = parseResult.GetResult(_count) is { Implicit: false } ? parseResult.GetValue(_count) : countArgument ?? (interval is null ? 1 : int.MaxValue);
        if (count < 1)
        {
            Console.Error.WriteLine("blkmq stat: --count must be at least 1.");
            return Program.ExitBadArguments;
        }

        using var cancellation = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = !cancellation.IsCancellationRequested;
            cancellation.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            return RunAsync(path, export, TimeSpan.FromSeconds(interval ?? 1), count, parseResult.GetValue(_json), cancellation.Token).GetAwaiter().GetResult();
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    private static async Task<int> RunAsync(string path, string? export, TimeSpan interval, int count, bool json, CancellationToken cancellationToken)
    {
        string command = export is null ? "iostat" : "iostat " + export;
        (long UptimeMs, List<(string Name, DiskStats Stats)> Exports)? previous = null;
        LiveDisplayContext? live = null;
        Table? table = null;
        Task? liveTask = null;
        var liveReady = new TaskCompletionSource<LiveDisplayContext>(TaskCreationOptions.RunContinuationsAsynchronously);
        var liveDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bool interactive = !json && count > 1 && AnsiConsole.Profile.Capabilities.Interactive;
        if (Console.IsOutputRedirected)
        {
            // Into a file or pipe no terminal sets the width: keep each export on one line.
            AnsiConsole.Profile.Width = 200;
        }
        try
        {
            for (int reports = 0; reports < count;)
            {
                string? reply;
                try
                {
                    reply = await CtlCommand.SendAsync(path, command).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException or ArgumentException)
                {
                    Console.Error.WriteLine($"blkmq stat: {CtlCommand.DescribeConnectFailure(path, ex)}");
                    return Program.ExitIOError;
                }

                if (reply is null || !reply.StartsWith("ok ", StringComparison.Ordinal))
                {
                    Console.Error.WriteLine($"blkmq stat: {path}: {reply ?? "the server closed the connection without a reply."}");
                    return Program.ExitIOError;
                }

                (long UptimeMs, List<(string Name, DiskStats Stats)> Exports) sample;
                try
                {
                    sample = IostatReply.Parse(reply);
                }
                catch (FormatException ex)
                {
                    Console.Error.WriteLine($"blkmq stat: {path}: {ex.Message}");
                    return Program.ExitIOError;
                }

                if (previous is { } before)
                {
                    double milliseconds = sample.UptimeMs - before.UptimeMs;
                    var samples = new List<IostatSample>();
                    foreach ((string name, DiskStats stats) in sample.Exports)
                    {
                        // An export whose disk was replaced (power cycled) starts again from zero.
                        DiskStats old = before.Exports.FirstOrDefault(e => e.Name == name).Stats is { } o && o.ReadIos <= stats.ReadIos && o.WriteIos <= stats.WriteIos ? o : new DiskStats();
                        samples.Add(IostatSample.Between(name, old, stats, milliseconds));
                    }

                    reports++;
                    if (json)
                    {
                        WriteJson(milliseconds / 1000, samples);
                    }
                    else if (interactive)
                    {
                        table = CreateTable(samples, milliseconds / 1000);
                        if (live is null)
                        {
                            Table first = table;
                            liveTask = Task.Run(() => AnsiConsole.Live(first).Start(context =>
                            {
                                liveReady.SetResult(context);
                                liveDone.Task.GetAwaiter().GetResult();
                            }), CancellationToken.None);
                            live = await liveReady.Task.ConfigureAwait(false);
                        }
                        else
                        {
                            live.UpdateTarget(table);
                        }
                    }
                    else
                    {
                        AnsiConsole.Write(CreateTable(samples, milliseconds / 1000));
                    }

                    if (reports == count)
                    {
                        break;
                    }
                }

                previous = sample;
                try
                {
                    await Task.Delay(interval, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }

            return 0;
        }
        finally
        {
            liveDone.TrySetResult();
            if (liveTask is not null)
            {
                await liveTask.ConfigureAwait(false);
            }
        }
    }

    private static Table CreateTable(List<IostatSample> samples, double seconds)
    {
        var table = new Table().Border(TableBorder.Simple)
            .Title($"blkmq stat: {samples.Count} export(s), {seconds.ToString("0.00", CultureInfo.InvariantCulture)} s");
        table.AddColumn("export");
        foreach (string column in new[] { "r/s", "w/s", "d/s", "f/s", "rMiB/s", "wMiB/s", "r_await ms", "w_await ms", "aqu-sz", "%util", "in flight", "errors" })
        {
            table.AddColumn(new TableColumn(column).RightAligned());
        }

        foreach (IostatSample s in samples)
        {
            table.AddRow(
                Markup.Escape(s.Name),
                F(s.ReadsPerSecond, "0"),
                F(s.WritesPerSecond, "0"),
                F(s.DiscardsPerSecond, "0"),
                F(s.FlushesPerSecond, "0"),
                F(s.ReadMiBPerSecond, "0.00"),
                F(s.WriteMiBPerSecond, "0.00"),
                F(s.ReadAwaitMs, "0.000"),
                F(s.WriteAwaitMs, "0.000"),
                F(s.QueueSize, "0.00"),
                F(s.UtilizationPercent, "0.0"),
                s.InFlight.ToString(CultureInfo.InvariantCulture),
                s.Errors == 0 ? "0" : $"[red]{s.Errors.ToString(CultureInfo.InvariantCulture)}[/]");
        }

        return table;
    }

    private static string F(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);

    private static void WriteJson(double seconds, List<IostatSample> samples)
    {
        using var stream = new MemoryStream();
        using (var json = new Utf8JsonWriter(stream))
        {
            json.WriteStartObject();
            json.WriteNumber("interval_s", Math.Round(seconds, 3));
            json.WriteStartArray("exports");
            foreach (IostatSample s in samples)
            {
                json.WriteStartObject();
                json.WriteString("name", s.Name);
                json.WriteNumber("r_s", Math.Round(s.ReadsPerSecond, 1));
                json.WriteNumber("w_s", Math.Round(s.WritesPerSecond, 1));
                json.WriteNumber("d_s", Math.Round(s.DiscardsPerSecond, 1));
                json.WriteNumber("f_s", Math.Round(s.FlushesPerSecond, 1));
                json.WriteNumber("rmib_s", Math.Round(s.ReadMiBPerSecond, 3));
                json.WriteNumber("wmib_s", Math.Round(s.WriteMiBPerSecond, 3));
                json.WriteNumber("r_await_ms", Math.Round(s.ReadAwaitMs, 3));
                json.WriteNumber("w_await_ms", Math.Round(s.WriteAwaitMs, 3));
                json.WriteNumber("aqu_sz", Math.Round(s.QueueSize, 3));
                json.WriteNumber("util_pct", Math.Round(s.UtilizationPercent, 1));
                json.WriteNumber("in_flight", s.InFlight);
                json.WriteNumber("errors", s.Errors);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        Console.Out.WriteLine(System.Text.Encoding.UTF8.GetString(stream.ToArray()));
        Console.Out.Flush();
    }
}
