using System.CommandLine;
using System.CommandLine.Parsing;
using Blkmq.Drivers.Null;
using Spectre.Console;

namespace Blkmq.Cli;

/// <summary>
/// <c>blkmq bench</c>: a fio-like load run in-process on a null-driver disk. Options keep fio's names for the
/// load and null_blk's names for the driver; the driver's parameters can also be given as one null_blk string.
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
        Description = "Region IO targets, from offset 0, as fio's size; also the disk's size (null_blk size) unless --null-params sets it. Default 1G.",
        CustomParser = ArgumentParsers.ParseSize,
        HelpName = "size",
    };

    private readonly Option<string> _driver = new("--driver")
    {
        Description = "Driver: null (null_blk, no data kept) or memory (null_blk with memory_backed=1,discard=1).",
        DefaultValueFactory = _ => "null",
        HelpName = "name",
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

    private readonly Option<bool> _memoryBacked = new("--memory-backed")
    {
        Description = "null_blk memory_backed: keep written data in sparse pages (0 or 1; no value means 1).",
        CustomParser = ArgumentParsers.ParseFlag,
        Arity = ArgumentArity.ZeroOrOne,
        HelpName = "0|1",
    };

    private readonly Option<bool> _blocking = new("--blocking")
    {
        Description = "null_blk blocking: register the tag set as BLK_MQ_F_BLOCKING (0 or 1; no value means 1).",
        CustomParser = ArgumentParsers.ParseFlag,
        Arity = ArgumentArity.ZeroOrOne,
        HelpName = "0|1",
    };

    private readonly Option<bool> _hipri = new("--hipri")
    {
        Description = "Submit polled IO (REQ_POLLED) to the poll_queues and busy-poll each job's queue for completions, as fio's hipri. Needs --poll-queues >= 1.",
    };

    private readonly Option<string> _nullParams = new("--null-params")
    {
        Description = "null_blk module parameters as one string, e.g. \"irqmode=0,submit_queues=2,hw_queue_depth=128\" (names, as null_blk's: " + string.Join(", ", NullBlockOptions.ParameterNames) + "; see docs/null-driver.md). Individual options given on the command line win over it.",
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

    public BenchCommand()
        : base("bench", "Run a fio-like load in-process on a null-driver disk and report IOPS, bandwidth, latency percentiles, CPU and allocations per IO.")
    {
        _rw.AcceptOnlyFromAmong("read", "write", "randread", "randwrite", "randrw");
        _driver.AcceptOnlyFromAmong("null", "memory");
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
        Options.Add(_nullParams);
        Options.Add(_outputFormat);
        Options.Add(_json);
        Options.Add(_plot);
        SetAction(Run);
    }

    private int Run(ParseResult parseResult)
    {
        BenchSettings settings;
        try
        {
            settings = CreateSettings(parseResult);
        }
        catch (Exception ex) when (ex is BenchUsageException or ArgumentException or FormatException or OverflowException)
        {
            // ArgumentOutOfRangeException appends the parameter and value on more lines; the first says it all.
            Console.Error.WriteLine($"blkmq bench: {ex.Message.Split('\n')[0].Replace(" (Parameter", " (option", StringComparison.Ordinal)}");
            return Program.ExitBadArguments;
        }

        using var cancellation = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            // The first Ctrl+C stops the run and still reports; a second one kills the process as usual.
            e.Cancel = !cancellation.IsCancellationRequested;
            cancellation.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            BenchResult result = RunWithProgress(settings, cancellation.Token);
            BenchReportWriter.Write(settings, result);
            if (settings.PlotPath is not null)
            {
                try
                {
                    BenchPlot.Save(settings.PlotPath, settings, result);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    // The report is already out; a plot that cannot be written is an IO error, not a crash.
                    Console.Error.WriteLine($"blkmq bench: --plot {settings.PlotPath}: {ex.Message}");
                    return Program.ExitIOError;
                }

                if (settings.Format == OutputFormat.Normal)
                {
                    AnsiConsole.MarkupLineInterpolated($"[grey]Plot written to {settings.PlotPath}[/]");
                }
            }

            return result.Errors > 0 ? Program.ExitIOError : 0;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    private static BenchResult RunWithProgress(BenchSettings settings, CancellationToken cancellationToken)
    {
        if (settings.Format != OutputFormat.Normal || !AnsiConsole.Profile.Capabilities.Interactive)
        {
            return BenchRunner.Run(settings, progress: null, cancellationToken);
        }

        BenchResult? result = null;

        // No auto refresh: a refresh thread would allocate during the measured phase; the controller redraws instead.
        AnsiConsole.Progress()
            .AutoRefresh(false)
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(context => result = BenchRunner.Run(settings, new SpectreBenchProgress(context), cancellationToken));
        return result!;
    }

    private BenchSettings CreateSettings(ParseResult parseResult)
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

        // Driver parameters, weakest first: bench defaults, --driver, --null-params, then individual options.
        var driver = new NullBlockOptions { IrqMode = IrqMode.None, Name = "nullb" };
        if (parseResult.GetValue(_driver) == "memory")
        {
            driver = driver with { MemoryBacked = true, Discard = true };
        }

        string? nullParams = parseResult.GetValue(_nullParams);
        bool paramsSetSize = false;
        if (!string.IsNullOrWhiteSpace(nullParams))
        {
            driver = NullBlockOptions.Parse(nullParams, driver);
            foreach (string part in nullParams.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                string key = part.Split('=', 2)[0].Trim();
                paramsSetSize |= key.Equals("size", StringComparison.OrdinalIgnoreCase) || key.Equals("gb", StringComparison.OrdinalIgnoreCase);
            }
        }

        if (Given(_irqMode))
        {
            driver = driver with { IrqMode = parseResult.GetValue(_irqMode) };
        }

        if (Given(_completionNsec))
        {
            driver = driver with { CompletionNsec = parseResult.GetValue(_completionNsec) };
        }

        if (Given(_submitQueues))
        {
            driver = driver with { SubmitQueues = parseResult.GetValue(_submitQueues) };
        }

        if (Given(_pollQueues))
        {
            driver = driver with { PollQueues = parseResult.GetValue(_pollQueues) };
        }

        if (Given(_hwQueueDepth))
        {
            driver = driver with { HwQueueDepth = parseResult.GetValue(_hwQueueDepth) };
        }

        if (Given(_deviceBlockSize))
        {
            long deviceBlockSize = parseResult.GetValue(_deviceBlockSize);
            Check(deviceBlockSize is 512 or 1024 or 2048 or 4096, "--blocksize-device must be 512, 1024, 2048 or 4096.");
            driver = driver with { BlockSize = (int)deviceBlockSize };
        }

        if (Given(_memoryBacked))
        {
            driver = driver with { MemoryBacked = parseResult.GetValue(_memoryBacked) };
        }

        if (Given(_blocking))
        {
            driver = driver with { Blocking = parseResult.GetValue(_blocking) };
        }

        if (!paramsSetSize)
        {
            // The disk is as large as the region, rounded up to whole blocks.
            long rounded = (size + driver.BlockSize - 1) / driver.BlockSize * driver.BlockSize;
            driver = driver with { Size = rounded };
        }

        driver.Validate();
        Check(blockSize % driver.BlockSize == 0, $"--bs ({blockSize}) must be a multiple of the disk's block size (null_blk bs={driver.BlockSize}).");
        Check(size >= blockSize, $"--size ({size}) must hold at least one IO of --bs ({blockSize}).");
        Check(size <= driver.Size, $"--size ({size}) is larger than the disk (null_blk size={driver.Size}).");
        bool polled = parseResult.GetValue(_hipri);
        Check(!polled || driver.PollQueues > 0, "--hipri needs poll queues: add --poll-queues 1 (null_blk poll_queues).");

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

        return new BenchSettings
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
            DriverName = parseResult.GetValue(_driver) ?? "null",
            Driver = driver,
            Polled = polled,
            Format = format,
            PlotPath = parseResult.GetValue(_plot),
        };
    }

    private static void Check(bool condition, string message)
    {
        if (!condition)
        {
            throw new BenchUsageException(message);
        }
    }
}
