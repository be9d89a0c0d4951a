using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Blkmq.Bench;
using Blkmq.Drivers;
using Blkmq.Drivers.Null;
using Blkmq.Filters;
using Spectre.Console;

namespace Blkmq.Cli;

/// <summary>
/// <c>blkmq bench</c>: a fio-like load run in-process on a disk of any registered driver (<see cref="DriverCatalog"/>).
/// Options keep fio's names for the load; the driver's parameters are given as one <c>key=value,...</c> string, and
/// null_blk's common ones also as options of their own, which become parameters of the same names.
/// </summary>
internal sealed class BenchCommand : Command
{
    private readonly Option<string> _rw = new("--rw")
    {
        Description = "IO pattern, as fio's rw: read, write (sequential), randread, randwrite, randrw.",
        DefaultValueFactory = _ => "randread",
        HelpName = "pattern",
    };

    private readonly Option<int> _rwMixRead = new("--rwmixread")
    {
        Description = "Percentage of reads for randrw, as fio's rwmixread.",
        DefaultValueFactory = _ => 50,
        HelpName = "percent",
    };

    private readonly Option<long> _blockSize = new("--bs")
    {
        Description = "Size of each IO, as fio's bs; K, M suffixes (powers of 1024). Default 4K.",
        CustomParser = ArgumentParsers.ParseSize,
        HelpName = "size",
    };

    private readonly Option<int> _ioDepth = new("--iodepth")
    {
        Description = "IOs each job keeps in flight, as fio's iodepth: one async worker loop per slot.",
        DefaultValueFactory = _ => 1,
        HelpName = "n",
    };

    private readonly Option<int> _jobs = new("--jobs", "--numjobs")
    {
        Description = "Jobs, as fio's numjobs: each runs on its own thread with iodepth IOs in flight.",
        DefaultValueFactory = _ => 1,
        HelpName = "n",
    };

    private readonly Option<TimeSpan> _runtime = new("--runtime")
    {
        Description = "Length of the measured phase, as fio's runtime: seconds (5) or with a unit (5s, 500ms, 2m). Default 5s unless --ios is given.",
        CustomParser = ArgumentParsers.ParseDuration,
        HelpName = "time",
    };

    private readonly Option<long> _ios = new("--ios")
    {
        Description = "Total IOs over all jobs instead of a runtime, as fio's number_ios; the first 10% are warmup.",
        HelpName = "n",
    };

    private readonly Option<TimeSpan> _warmup = new("--warmup", "--ramp-time")
    {
        Description = "Warmup before a timed measurement, excluded from all figures, as fio's ramp_time. Default 0.5s.",
        CustomParser = ArgumentParsers.ParseDuration,
        HelpName = "time",
    };

    private readonly Option<long> _size = new("--size")
    {
        Description = "Region IO targets, from offset 0, as fio's size; also the disk's size unless the driver's parameters set it (size or gb). Default 1G, or the whole disk when it is smaller.",
        CustomParser = ArgumentParsers.ParseSize,
        HelpName = "size",
    };

    private readonly Option<string> _driver = new("--driver")
    {
        Description = "Driver, with optional parameters: DRIVER[:key=value,...]. DRIVER is one of " + DriverCatalog.Registry.KnownNames
            + "; 'blkmq drivers' lists each one's parameters. Filters stack after '|' (null|stats|delay:read=1ms). Default: " + DriverCatalog.DefaultBenchDriver + ".",
        DefaultValueFactory = _ => DriverCatalog.DefaultBenchDriver,
        HelpName = "driver",
    };

    private readonly Option<IrqMode> _irqMode = new("--irqmode")
    {
        Description = "null_blk irqmode: 0/none (ended inside queue_rq), 1/softirq (ended on the queue's completion context), 2/timer (ended completion_nsec after queueing). Default for bench: 0.",
        CustomParser = ArgumentParsers.ParseIrqMode,
        HelpName = "mode",
    };

    private readonly Option<long> _completionNsec = new("--completion-nsec")
    {
        Description = "null_blk completion_nsec: delay of irqmode=2 (timer) completions in nanoseconds. Default 10000.",
        HelpName = "ns",
    };

    private readonly Option<int> _submitQueues = new("--submit-queues")
    {
        Description = "null_blk submit_queues: hardware queues (hctx) for normal IO. Default 1.",
        HelpName = "n",
    };

    private readonly Option<int> _pollQueues = new("--poll-queues")
    {
        Description = "null_blk poll_queues: hardware queues completed only by polling (used with --hipri). Default 0.",
        HelpName = "n",
    };

    private readonly Option<int> _hwQueueDepth = new("--hw-queue-depth")
    {
        Description = "null_blk hw_queue_depth: tags per hardware queue, shared by all jobs mapped to it. Default 64.",
        HelpName = "n",
    };

    private readonly Option<long> _deviceBlockSize = new("--blocksize-device", "--bs-device")
    {
        Description = "null_blk bs: the disk's logical (and physical) block size, 512 to 4096. Default 512.",
        CustomParser = ArgumentParsers.ParseSize,
        HelpName = "size",
    };

    private readonly Option<string> _memoryBacked = new("--memory-backed")
    {
        Description = "null_blk memory_backed: keep written data in sparse pages (1/0, yes/no, true/false or on/off; no value means 1).",
        CustomParser = ArgumentParsers.ParseFlag,
        Arity = ArgumentArity.ZeroOrOne,
        HelpName = "0|1",
    };

    private readonly Option<string> _blocking = new("--blocking")
    {
        Description = "null_blk blocking: register the tag set as BLK_MQ_F_BLOCKING (1/0, yes/no, true/false or on/off; no value means 1).",
        CustomParser = ArgumentParsers.ParseFlag,
        Arity = ArgumentArity.ZeroOrOne,
        HelpName = "0|1",
    };

    private readonly Option<bool> _hipri = new("--hipri")
    {
        Description = "Submit polled IO (REQ_POLLED) to the poll_queues and busy-poll each job's queue for completions, as fio's hipri. Needs --poll-queues >= 1.",
    };

    private readonly Option<bool> _continueOnError = new("--continue-on-error")
    {
        Description = "Count a failed IO and go on (fio's continue_on_error=io), e.g. under an error or flakey filter; the errors are reported and the exit status is still 1. Default: a job's worker stops at its first IO error.",
    };

    private readonly Option<string> _driverParams = new("--driver-params", "--null-params")
    {
        Description = "The driver's parameters as one string, e.g. \"irqmode=0,submit_queues=2,hw_queue_depth=128\" for null_blk ('blkmq drivers' lists them; see docs/null-driver.md). Applied after those of --driver; individual options given on the command line win over it.",
        HelpName = "params",
    };

    private readonly Option<string> _outputFormat = new("--output-format")
    {
        Description = "Report format, as fio's output-format: normal (tables), json, or terse (one ';'-separated line: blkmq;1;rw;bs;iodepth;jobs;ios;seconds;iops;bw_mib_s;lat_mean_ns;p50;p90;p99;p99.9;p99.99;max_ns;cpu_ns_per_io;alloc_bytes_per_io;gc0;gc1;gc2;errors).",
        DefaultValueFactory = _ => "normal",
        HelpName = "format",
    };

    private readonly Option<bool> _json = new("--json")
    {
        Description = "Same as --output-format json.",
    };

    private readonly Option<string> _plot = new("--plot")
    {
        Description = "Write an SVG plot of IOPS per second over the run and the latency percentile curve to this file.",
        HelpName = "file.svg",
    };

    private readonly Option<string> _metricsLatency = MetricsEndpoint.CreateLatencyOption();

    private readonly Option<string?> _metrics = new("--metrics")
    {
        Description = "Serve the Blkmq meter in Prometheus format at http://ADDRESS/metrics during the run (as 'serve --metrics'), so the latency histogram is recorded (see --metrics-latency): what metrics cost.",
        HelpName = "address",
    };

    public BenchCommand()
        : base("bench", "Run a fio-like load in-process on a disk of any driver and report IOPS, bandwidth, latency percentiles, CPU and allocations per IO.")
    {
        _rw.AcceptOnlyFromAmong("read", "write", "randread", "randwrite", "randrw");
        _outputFormat.AcceptOnlyFromAmong("normal", "json", "terse");
        Options.Add(_rw);
        Options.Add(_rwMixRead);
        Options.Add(_blockSize);
        Options.Add(_ioDepth);
        Options.Add(_jobs);
        Options.Add(_runtime);
        Options.Add(_ios);
        Options.Add(_warmup);
        Options.Add(_size);
        Options.Add(_driver);
        Options.Add(_irqMode);
        Options.Add(_completionNsec);
        Options.Add(_submitQueues);
        Options.Add(_pollQueues);
        Options.Add(_hwQueueDepth);
        Options.Add(_deviceBlockSize);
        Options.Add(_memoryBacked);
        Options.Add(_blocking);
        Options.Add(_hipri);
        Options.Add(_continueOnError);
        Options.Add(_driverParams);
        Options.Add(_outputFormat);
        Options.Add(_json);
        Options.Add(_plot);
        Options.Add(_metrics);
        Options.Add(_metricsLatency);
        SetAction(Run);
    }

    /// <summary>Refuses a plot path that cannot be written before the run, not after it: a directory, or a file in a directory that does not exist.</summary>
    private static void CheckPlotPath(string? path)
    {
        if (path is null)
        {
            return;
        }

        string? directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (Directory.Exists(path))
        {
            throw new BenchUsageException($"--plot {path} is a directory; give the SVG file to write.");
        }

        if (directory is not null && !Directory.Exists(directory))
        {
            throw new BenchUsageException($"--plot {path}: the directory {directory} does not exist.");
        }
    }

    private int Run(ParseResult parseResult)
    {
        BenchInvocation invocation;
        DriverInstance? instance = null;
        System.Net.IPEndPoint? metricsAddress;
        try
        {
            metricsAddress = parseResult.GetValue(_metrics) is { } metricsText ? MetricsEndpoint.ParseAddress(metricsText) : null;
            MetricsEndpoint.ApplyLatencyOption(parseResult, _metricsLatency);
            CheckPlotPath(parseResult.GetValue(_plot));
            (invocation, instance) = CreateSettings(parseResult);
        }
        catch (Exception ex) when (ex is BenchUsageException or ArgumentException or FormatException or OverflowException)
        {
            // ArgumentOutOfRangeException appends the parameter and value on more lines; the first says it all.
            Console.Error.WriteLine($"blkmq bench: {ex.Message.Split('\n')[0].Replace(" (Parameter", " (option", StringComparison.Ordinal)}");
            return Program.ExitBadArguments;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // A driver's backing store that cannot be used (a missing, unreadable or locked file): one line.
            Console.Error.WriteLine($"blkmq bench: {ex.Message.Split('\n')[0]}");
            return Program.ExitIOError;
        }

        using var cancellation = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            // The first Ctrl+C stops the run and still reports; a second one kills the process as usual.
            e.Cancel = !cancellation.IsCancellationRequested;
            cancellation.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        BenchResult? result = null;
        MetricsEndpoint? metrics = null;
        bool measuring = false;
        try
        {
            try
            {
                metrics = metricsAddress is null ? null : MetricsEndpoint.Start(metricsAddress);
            }
            catch (IOException ex)
            {
                Console.Error.WriteLine($"blkmq bench: {ex.Message}");
                return Program.ExitIOError;
            }

            if (metrics is not null)
            {
                // stderr, as serve says it: stdout carries the report (--format json), and port 0 picked a port to name.
                Console.Error.WriteLine($"blkmq bench: metrics in Prometheus format at {metrics.Uri}");
            }

            measuring = true;
            result = RunWithProgress(instance.Disk, invocation, cancellation.Token);
            BenchReportWriter.Write(invocation, result);
            if (invocation.PlotPath is not null)
            {
                try
                {
                    BenchPlot.Save(invocation.PlotPath, invocation.Settings, result);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    // The report is already out; a plot that cannot be written is an IO error, not a crash.
                    Console.Error.WriteLine($"blkmq bench: --plot {invocation.PlotPath}: {ex.Message}");
                    return Program.ExitIOError;
                }

                if (invocation.Format == OutputFormat.Normal)
                {
                    AnsiConsole.MarkupLineInterpolated($"[grey]Plot written to {invocation.PlotPath}[/]");
                }
            }

            return result.Errors > 0 ? Program.ExitIOError : 0;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
            metrics?.Dispose();

            // A disk with a lost completion never drains, so removing it would wait forever; the process exit frees it.
            if (result is not { Stalled: true })
            {
                instance.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }

            if (!measuring)
            {
                // The run never began (the metrics endpoint failed): a file create= made holds nothing of it.
                DriverCatalog.RemoveCreatedFiles("bench", [instance]);
            }
        }
    }

    private static BenchResult RunWithProgress(Disk disk, BenchInvocation invocation, CancellationToken cancellationToken)
    {
        BenchSettings settings = invocation.Settings;
        if (invocation.Format != OutputFormat.Normal || !AnsiConsole.Profile.Capabilities.Interactive)
        {
            return BenchRunner.Run(disk, settings, progress: null, cancellationToken);
        }

        BenchResult? result = null;

        // No auto refresh: a refresh thread would allocate during the measured phase; the controller redraws instead.
        AnsiConsole.Progress()
            .AutoRefresh(false)
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(context => result = BenchRunner.Run(disk, settings, new SpectreBenchProgress(context), cancellationToken));
        return result!;
    }

    /// <summary>Resolves the options and creates the disk; the caller disposes the instance.</summary>
    private (BenchInvocation Invocation, DriverInstance Instance) CreateSettings(ParseResult parseResult)
    {
        bool Given(Option option) => parseResult.GetResult(option) is { Implicit: false };

        ReadWriteMode mode = parseResult.GetValue(_rw) switch
        {
            "read" => ReadWriteMode.Read,
            "write" => ReadWriteMode.Write,
            "randwrite" => ReadWriteMode.RandWrite,
            "randrw" => ReadWriteMode.RandRW,
            _ => ReadWriteMode.RandRead,
        };
        long size = Given(_size) ? parseResult.GetValue(_size) : 1L << 30;
        long blockSize = Given(_blockSize) ? parseResult.GetValue(_blockSize) : 4096;
        int ioDepth = parseResult.GetValue(_ioDepth);
        int jobs = parseResult.GetValue(_jobs);
        int mix = parseResult.GetValue(_rwMixRead);
        Check(blockSize is > 0 and <= 1L << 30, "--bs must be 1 byte to 1G.");
        Check(ioDepth is >= 1 and <= 65536, "--iodepth must be 1 to 65536.");
        Check(jobs is >= 1 and <= 1024, "--jobs must be 1 to 1024.");
        Check(mix is >= 0 and <= 100, "--rwmixread must be 0 to 100.");
        Check(!(Given(_runtime) && Given(_ios)), "Give either --runtime or --ios, not both.");
        bool polled = parseResult.GetValue(_hipri);
        OutputFormat format = parseResult.GetValue(_json) ? OutputFormat.Json : parseResult.GetValue(_outputFormat) switch
        {
            "json" => OutputFormat.Json,
            "terse" => OutputFormat.Terse,
            _ => OutputFormat.Normal,
        };
        long ios = parseResult.GetValue(_ios);
        TimeSpan runtime = Given(_runtime) ? parseResult.GetValue(_runtime) : TimeSpan.FromSeconds(5);
        Check(!Given(_ios) || ios > 0, "--ios must be positive.");
        Check(ios == 0 || ios >= (long)jobs * ioDepth, $"--ios ({ios}) must be at least jobs x iodepth ({(long)jobs * ioDepth}).");
        Check(runtime > TimeSpan.Zero, "--runtime must be positive.");

        // Shorter than the coarse clock's tick, a run measured no IO at all and reported 0 IOPS as a success.
        Check(runtime >= TimeSpan.FromMilliseconds(1), "--runtime must be at least 1ms.");

        // Driver parameters, weakest first: the driver's defaults, bench's (ends inline), --driver's, --driver-params,
        // then individual options; the disk is as large as the region unless they set its size.
        (string driverSpecification, string[] filters) = FilterStack.Split(parseResult.GetValue(_driver) ?? DriverCatalog.DefaultBenchDriver);
        (string driverName, string driverText) = DriverRegistry.SplitSpecification(driverSpecification);
        DriverDescriptor driver = DriverCatalog.Registry.Get(driverName);
        var parameters = new List<string>();
        if (driver.HasParameter("irqmode"))
        {
            // Bench measures the block layer: requests end inside QueueRq unless --irqmode says otherwise.
            parameters.Add("irqmode=0");
        }

        parameters.Add(driverText);
        parameters.Add(parseResult.GetValue(_driverParams) ?? string.Empty);
        void AddOption(Option option, string parameter, string value)
        {
            if (Given(option))
            {
                Check(driver.HasParameter(parameter), $"{option.Name}: driver '{driver.Name}' has no parameter '{parameter}' ('blkmq drivers {driver.Name}' lists its parameters).");
                parameters.Add(parameter + "=" + value);
            }
        }

        AddOption(_irqMode, "irqmode", I((int)parseResult.GetValue(_irqMode)));
        AddOption(_completionNsec, "completion_nsec", I(parseResult.GetValue(_completionNsec)));
        AddOption(_submitQueues, "submit_queues", I(parseResult.GetValue(_submitQueues)));
        AddOption(_pollQueues, "poll_queues", I(parseResult.GetValue(_pollQueues)));
        AddOption(_hwQueueDepth, "hw_queue_depth", I(parseResult.GetValue(_hwQueueDepth)));
        if (Given(_deviceBlockSize))
        {
            long deviceBlockSize = parseResult.GetValue(_deviceBlockSize);
            Check(deviceBlockSize is 512 or 1024 or 2048 or 4096, "--blocksize-device must be 512, 1024, 2048 or 4096.");
            AddOption(_deviceBlockSize, "bs", I(deviceBlockSize));
        }

        AddOption(_memoryBacked, "memory_backed", parseResult.GetValue(_memoryBacked)!);
        AddOption(_blocking, "blocking", parseResult.GetValue(_blocking)!);

        string text = string.Join(',', parameters.Where(static p => !string.IsNullOrWhiteSpace(p)));
        DriverInstance instance = driver.Create(text, new DriverCreateOptions { DefaultSize = size });
        if (filters.Length > 0)
        {
            instance = FilterStack.Apply(instance, filters);
        }

        try
        {
            Disk disk = instance.Disk;
            if (!Given(_size))
            {
                size = Math.Min(size, disk.Capacity); // a disk smaller than the default region is benchmarked whole
            }

            int diskBlockSize = disk.Limits.LogicalBlockSize;
            Check(blockSize % diskBlockSize == 0, $"--bs ({blockSize}) must be a multiple of the disk's block size ({diskBlockSize}).");
            Check(size >= blockSize, $"--size ({size}) must hold at least one IO of --bs ({blockSize}).");
            Check(size <= disk.Capacity, $"--size ({size}) is larger than the disk ({disk.Capacity} bytes).");
            Check(!polled || disk.TagSet.PollQueueCount > 0, "--hipri needs poll queues: add --poll-queues 1 (null_blk poll_queues).");
        }
        catch
        {
            // Refused with the disk built: as serve does, the refused command leaves no file create= made behind.
            instance.DisposeAsync().AsTask().GetAwaiter().GetResult();
            DriverCatalog.RemoveCreatedFiles("bench", [instance]);
            throw;
        }

        var settings = new BenchSettings
        {
            Mode = mode,
            ReadMixPercent = mix,
            BlockSize = (int)blockSize,
            IoDepth = ioDepth,
            Jobs = jobs,
            Runtime = runtime,
            TotalIos = ios,
            Warmup = Given(_warmup) ? parseResult.GetValue(_warmup) : TimeSpan.FromMilliseconds(500),
            Size = size / blockSize * blockSize,
            CompletionDelay = instance.CompletionDelay,
            Polled = polled,
            ContinueOnError = parseResult.GetValue(_continueOnError),
        };
        var invocation = new BenchInvocation
        {
            Settings = settings,
            DriverName = driver.Name,
            DriverParameters = instance.Parameters,
            Format = format,
            PlotPath = parseResult.GetValue(_plot),
        };
        return (invocation, instance);
    }

    private static string I(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static void Check(bool condition, string message)
    {
        if (!condition)
        {
            throw new BenchUsageException(message);
        }
    }
}
