using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Blkmq.Drivers;
using Blkmq.Drivers.Null.Control;
using Blkmq.Filters;
using Blkmq.Fuse;
using Blkmq.Nbd;
using Blkmq.Ublk;
using Microsoft.Extensions.Logging;

namespace Blkmq.Cli;

/// <summary>
/// <c>blkmq serve</c>: serves disks of registered drivers (<see cref="DriverCatalog"/>) over NBD, and with <c>--fuse</c> as files of a FUSE mount, until SIGINT
/// or SIGTERM. Prints one URI per export and listener (and one path per FUSE file) on stdout once everything is ready;
/// logs go to stderr.
/// </summary>
internal sealed class ServeCommand : Command
{
    private static readonly string s_defaultExport = "disk=" + DriverCatalog.DefaultServeDriver;

    /// <summary>The command-line option behind each <see cref="NbdServerOptions"/> property its validation may name.</summary>
    private static readonly Dictionary<string, string> s_optionNames = new(StringComparer.Ordinal)
    {
        [nameof(NbdServerOptions.Exports)] = "--export",
        [nameof(NbdServerOptions.Listeners)] = "--listen",
        [nameof(NbdServerOptions.TlsCertificateFile)] = "--tls-certificate",
        [nameof(NbdServerOptions.MaxConnections)] = "--max-connections",
        [nameof(NbdServerOptions.BusyPoll)] = "--busy-poll",
    };

    private readonly Option<string[]> _exports = new("--export")
    {
        Description = "An export: NAME=DRIVER[:key=value,...]. DRIVER is one of " + DriverCatalog.Registry.KnownNames
            + "; key=value pairs are the driver's parameters (size, bs, irqmode, ...): 'blkmq drivers' lists them. Filters stack after '|', "
            + "from the driver up to the client: NAME=file:path=base.img|cow|delay:write=5ms. Repeatable. Default: " + s_defaultExport + ".",
        HelpName = "NAME=DRIVER[:params][|FILTER[:params]...]",
        AllowMultipleArgumentsPerToken = false,
    };

    private readonly Argument<string[]> _images = new("file")
    {
        Description = "Disk images or block devices to serve, each as an export named after the file without its extension (short for --export NAME=file:path=FILE).",
        Arity = ArgumentArity.ZeroOrMore,
    };

    private readonly Option<string[]> _listen = new("--listen")
    {
        Description = "Where to listen: 127.0.0.1:PORT, [::1]:PORT, [::]:PORT (IPv6 and IPv4) or unix:PATH; port 0 picks a free port; none for no NBD at all (with --fuse). Repeatable. Default 127.0.0.1:10809.",
        HelpName = "address",
        AllowMultipleArgumentsPerToken = false,
    };

    private readonly Option<bool> _readOnly = new("--read-only")
    {
        Description = "Serve every export read-only; a driver that can open its storage read-only does (readonly=1), so readers share an image.",
    };

    private readonly Option<string> _tls = new("--tls")
    {
        Description = "TLS: off, on (offered with STARTTLS) or require (every option but STARTTLS refused before TLS). Default: off, or on when --tls-certificate is given.",
        DefaultValueFactory = _ => "off",
        HelpName = "mode",
    };

    private readonly Option<FileInfo?> _tlsCertificate = new("--tls-certificate")
    {
        Description = "PEM file with the server's X.509 certificate.",
        HelpName = "file",
    };

    private readonly Option<FileInfo?> _tlsKey = new("--tls-key")
    {
        Description = "PEM file with the certificate's private key (default: in the certificate file).",
        HelpName = "file",
    };

    private readonly Option<int> _maxConnections = new("--max-connections")
    {
        Description = "Most client connections at once; more are closed at accept.",
        DefaultValueFactory = _ => 1024,
        HelpName = "n",
    };

    private readonly Option<int> _busyPoll = new("--busy-poll")
    {
        Description = "Microseconds a connection polls its socket before blocking for the next request (like net.core.busy_read), while connections are fewer than half the CPUs; 0 turns it off.",
        DefaultValueFactory = _ => 50,
        HelpName = "us",
    };

    private readonly Option<string?> _fuse = new("--fuse")
    {
        Description = "Also serve every export as the file DIR/NAME of a FUSE mount on DIR (an existing directory; as root, or through fusermount3 from Debian's fuse3 without it). "
            + "losetup turns such a file into /dev/loopN. Unmounted when the server stops (a loop device still attached gets 10 s, then the mount is forced off). "
            + "A dead mount left on DIR by a killed server is detached first; a live one is an error.",
        HelpName = "dir",
    };

    private readonly Option<string?> _run = new("--run")
    {
        Description = "Captive mode: once serving, run CMD with /bin/sh -c and $uri, $nbd, $port, $unixsocket, $export, $tls (0, 1, 2; $uri is nbds:// with --tls require), $file (FUSE) and $dev of the first export set; "
            + "stop when CMD exits and exit with its status. Stopped by SIGINT/SIGTERM, the server sends CMD (and its children) SIGTERM and SIGKILL 5 s later. --listen unix:- gives a private Unix socket.",
        HelpName = "cmd",
    };

    private string? _privateSocketDirectory;

    private readonly Option<string> _fuseUring = new("--fuse-uring")
    {
        Description = "With --fuse: how the kernel hands requests over. auto: FUSE over io_uring when the kernel offers it "
            + "(/sys/module/fuse/parameters/enable_uring is Y, Linux 6.14+), else /dev/fuse; on: io_uring or fail; off: /dev/fuse. The log says which runs.",
        DefaultValueFactory = _ => "auto",
        HelpName = "auto|on|off",
    };

    private readonly Option<string?> _control = new("--control")
    {
        Description = "A Unix socket on which to accept control commands (see 'blkmq ctl' and 'blkmq stat'): power, bad blocks, power cut, stats, iostat. A socket file left by a killed server is replaced. Default: none.",
        HelpName = "path",
    };

    private readonly Option<string> _metricsLatency = MetricsEndpoint.CreateLatencyOption();

    private readonly Option<string?> _metrics = new("--metrics")
    {
        Description = "Serve the Blkmq meter (disks: IOs, bytes, errors, in flight, latency histograms; front ends: connections, requests, bytes) in Prometheus format at http://ADDRESS/metrics, e.g. 127.0.0.1:9464. Default: none.",
        HelpName = "address",
    };

    private readonly Option<bool> _ublk = new("--ublk")
    {
        Description = "Also serve every export as a Linux block device /dev/ublkbN (needs the ublk_drv module, Linux 6.0+, and root; or, as another user, Linux 6.3+, /dev/ublk-control open to that user and udev rules that give it /dev/ublk[bc]N: the device is then unprivileged); "
            + "the paths are printed at start. Stopped and deleted on SIGINT/SIGTERM.",
    };

    private readonly Option<int> _ublkId = new("--ublk-id")
    {
        Description = "With --ublk: the first export's device number N (/dev/ublkbN), the next exports N+1, ...; default: the kernel picks.",
        DefaultValueFactory = _ => -1,
        HelpName = "N",
    };

    private readonly Option<bool> _ublkRecoverable = new("--ublk-recoverable")
    {
        Description = "With --ublk: devices outlive a killed server (USER_RECOVERY_REISSUE): their IO waits for 'blkmq serve --ublk --recover N', which reissues it.",
    };

    private readonly Option<string> _ublkUserCopy = new("--ublk-user-copy")
    {
        Description = "With --ublk: how request data moves. auto (default): USER_COPY (pread/pwrite on /dev/ublkcN) when the kernel offers it (Linux 6.5+), else per-tag buffers the kernel copies; on: USER_COPY or fail; off: per-tag buffers. --recover keeps the device's own mode.",
        DefaultValueFactory = _ => "auto",
        HelpName = "auto|on|off",
    };

    private readonly Option<int> _ublkQueues = new("--ublk-queues")
    {
        Description = "With --ublk: hardware queues per device, each with its own thread on the CPUs the kernel maps to it (1 to 4096); default: as many as the disk's submit queues (null_blk submit_queues), so ublk queue q feeds Blkmq queue q.",
        HelpName = "N",
    };

    private readonly Option<int> _ublkDepth = new("--ublk-depth")
    {
        Description = "With --ublk: tags per queue, the requests the kernel queues at once (1 to 4096); default: the disk's queue depth (null_blk hw_queue_depth).",
        HelpName = "N",
    };

    private readonly Option<int?> _recover = new("--recover")
    {
        Description = "With --ublk and one export: take over recoverable device N whose server died, instead of creating a device.",
        HelpName = "N",
    };

    public ServeCommand()
        : base("serve", "Serve disks over NBD (nbdinfo, nbdcopy, qemu-img, fio --ioengine=nbd, nbd-client) until SIGINT/SIGTERM.")
    {
        _tls.AcceptOnlyFromAmong("off", "on", "require");
        _fuseUring.AcceptOnlyFromAmong("auto", "on", "off");
        _ublkUserCopy.AcceptOnlyFromAmong("auto", "on", "off");
        _images.Validators.Add(static result =>
        {
            // An option the parser does not know ends up here as a file: say what it is, not "no such file".
            foreach (System.CommandLine.Parsing.Token token in result.Tokens)
            {
                if (token.Value.Length > 1 && token.Value[0] == '-')
                {
                    result.AddError($"unknown option '{token.Value}' (a file of that name: ./{token.Value}).");
                }
            }
        });
        Arguments.Add(_images);
        Options.Add(_exports);
        Options.Add(_listen);
        Options.Add(_readOnly);
        Options.Add(_tls);
        Options.Add(_tlsCertificate);
        Options.Add(_tlsKey);
        Options.Add(_maxConnections);
        Options.Add(_busyPoll);
        Options.Add(_fuse);
        Options.Add(_fuseUring);
        Options.Add(_control);
        Options.Add(_run);
        Options.Add(_metrics);
        Options.Add(_metricsLatency);
        Options.Add(_ublk);
        Options.Add(_ublkId);
        Options.Add(_ublkRecoverable);
        Options.Add(_ublkUserCopy);
        Options.Add(_ublkQueues);
        Options.Add(_ublkDepth);
        Options.Add(_recover);
        SetAction(Run);
    }

    /// <summary>Splits <c>NAME=DRIVER[:key=value,...]</c> into the export name and the driver specification.</summary>
    /// <exception cref="FormatException">The text does not have that form.</exception>
    internal static (string Name, string Driver) SplitExport(string text)
    {
        int eq = text.IndexOf('=', StringComparison.Ordinal);
        if (eq <= 0)
        {
            throw new FormatException($"--export '{text}': expected NAME=DRIVER[:key=value,...].");
        }

        return (text[..eq], text[(eq + 1)..]);
    }

    /// <summary>
    /// Parses and checks <c>NAME=DRIVER[:key=value,...]</c> without creating anything: the name is not empty, the driver
    /// and every filter are known, and their parameters parse and are in range.
    /// </summary>
    /// <param name="text">The <c>--export</c> value.</param>
    /// <param name="readOnly">Whether the server serves read-only (<c>--read-only</c>), which the driver's check sees as <c>readonly=1</c>.</param>
    /// <exception cref="FormatException">Any of that is wrong; the message starts with the text.</exception>
    internal static ExportSpec ParseExport(string text, bool readOnly = false)
    {
        (string name, string driver) = SplitExport(text);
        try
        {
            DriverCatalog.Check(driver, new DriverCreateOptions { DiskName = name, ReadOnly = readOnly });
        }
        catch (Exception ex) when (ex is FormatException or OverflowException or ArgumentException)
        {
            throw new FormatException($"--export '{text}': {Program.OneLine(ex)}", ex);
        }

        return new ExportSpec(name, "--export '" + text + "'", driver, null);
    }

    /// <summary>
    /// The export of <c>blkmq serve FILE</c>: the file driver on FILE as it is (any character, ',' '|' '=' included),
    /// named after the file without its extension, blanks and control characters made '_' (a control command names an
    /// export in one word); a dot file (<c>.hidden</c>) by its name without the dot; <c>disk</c> when that leaves nothing.
    /// </summary>
    internal static ExportSpec ImageExport(string path)
    {
        string stem = Path.GetFileNameWithoutExtension(path);
        if (stem.Length == 0)
        {
            stem = Path.GetFileName(path).TrimStart('.');
        }

        string name = string.Concat(stem.Select(static c => char.IsWhiteSpace(c) || char.IsControl(c) ? '_' : c));
        return new ExportSpec(name.Length == 0 ? "disk" : name, "'" + path + "'", null, path);
    }

    /// <summary>
    /// Creates the disk(s) of an export checked by <see cref="ParseExport"/> or made by <see cref="ImageExport"/>; for a
    /// read-only server (<paramref name="readOnly"/>), a driver with a <c>readonly</c> parameter (the bottom of a stack)
    /// opens its storage read-only, sharing it with other readers.
    /// </summary>
    /// <exception cref="FormatException">A filter cannot go over the disk below; the message starts with the export.</exception>
    /// <exception cref="IOException">A file the driver needs cannot be used.</exception>
    internal static DriverInstance CreateExport(ExportSpec export, bool readOnly, ILoggerFactory? loggerFactory)
    {
        var options = new DriverCreateOptions { DiskName = export.Name, ReadOnly = readOnly, LoggerFactory = loggerFactory };
        try
        {
            return export.ImagePath is { } path ? DriverCatalog.CreateImage(path, options) : DriverCatalog.Create(export.Stack!, options);
        }
        catch (Exception ex) when (ex is FormatException or OverflowException or ArgumentException)
        {
            throw new FormatException($"{export.Text}: {Program.OneLine(ex)}", ex);
        }
    }

    /// <summary>
    /// The names of the disks an export checked by <see cref="ParseExport"/> or made by <see cref="ImageExport"/> will
    /// make at the bottom of its stack (the filters' disks are named after them), as its driver tells without creating any.
    /// </summary>
    private static IReadOnlyList<string> DiskNames(ExportSpec export)
    {
        if (export.ImagePath is not null)
        {
            return [export.Name];
        }

        (string driverName, string parameters) = DriverRegistry.SplitSpecification(FilterStack.Split(export.Stack!).Driver);
        return DriverCatalog.Registry.Get(driverName).DiskNames(parameters, new DriverCreateOptions { DiskName = export.Name });
    }

    /// <summary>Parses a listen address: <c>HOST:PORT</c>, <c>[IPv6]:PORT</c> or <c>unix:PATH</c>.</summary>
    /// <exception cref="FormatException">The text is none of those.</exception>
    internal static EndPoint ParseListen(string text)
    {
        if (text.StartsWith("unix:", StringComparison.Ordinal))
        {
            string path = text["unix:".Length..];
            if (path.Length == 0)
            {
                throw new FormatException("--listen unix: needs a path.");
            }

            return new UnixDomainSocketEndPoint(Path.GetFullPath(path));
        }

        if (IPEndPoint.TryParse(text, out IPEndPoint? endPoint) && text.Contains(':', StringComparison.Ordinal))
        {
            return endPoint;
        }

        int colon = text.LastIndexOf(':');
        if (colon > 0 && string.Equals(text[..colon], "localhost", StringComparison.OrdinalIgnoreCase)
            && int.TryParse(text[(colon + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int port)
            && port <= IPEndPoint.MaxPort)
        {
            return new IPEndPoint(IPAddress.Loopback, port);
        }

        throw new FormatException($"--listen '{text}': expected 127.0.0.1:PORT, [::1]:PORT or unix:PATH.");
    }

    private int Run(ParseResult parseResult)
    {
        var instances = new List<DriverInstance>();
        bool serving = false;
        NbdServerOptions? options;
        List<NbdExport> exports;
        IPEndPoint? metrics;
        // stdout carries only the URIs; every log line goes to stderr.
        ILoggerFactory loggerFactory = LoggerFactory.Create(static builder => builder
            .AddConsole(static o => o.LogToStandardErrorThreshold = LogLevel.Trace)
            .AddSimpleConsole(static o => o.SingleLine = true)
            .AddFilter(static level => level >= LogLevel.Information));
        try
        {
            try
            {
                MetricsEndpoint.ApplyLatencyOption(parseResult, _metricsLatency);

                // Checked before CreateOptions makes any disk (or creates an image file), as the rest of the command line.
                metrics = parseResult.GetValue(_metrics) is { } metricsText ? MetricsEndpoint.ParseAddress(metricsText) : null;
                CheckSocketPaths(parseResult);
                (options, exports) = CreateOptions(parseResult, instances, loggerFactory);
            }
            catch (ArgumentException ex) when (ex.ParamName is { } name && s_optionNames.TryGetValue(name, out string? option))
            {
                // NbdServerOptions names its properties; the user typed options.
                Console.Error.WriteLine($"blkmq serve: {option}: {Program.OneLine(ex)}");
                return Program.ExitBadArguments;
            }
            catch (Exception ex) when (ex is FormatException or ArgumentException or OverflowException)
            {
                Console.Error.WriteLine($"blkmq serve: {Program.OneLine(ex)}");
                return Program.ExitBadArguments;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // A driver's backing store that cannot be used (a missing, unreadable or locked file): one line.
                Console.Error.WriteLine($"blkmq serve: {Program.OneLine(ex)}");
                return Program.ExitIOError;
            }

            // Each export serves the first disk of its own instance (CreateExport makes one per export); the null
            // driver's exports can also be changed through the control socket.
            var controlExports = new List<ControlExport>();
            var otherExports = new List<(string Name, string Stack)>();
            for (int i = 0; i < exports.Count; i++)
            {
                if (ControlExport.TryCreate(exports[i].Name, instances[i], out ControlExport? controlExport))
                {
                    controlExports.Add(controlExport);
                }
                else
                {
                    otherExports.Add((exports[i].Name, instances[i].DriverName));
                }
            }

            FuseExportOptions? fuse = parseResult.GetValue(_fuse) is { } directory
                ? new FuseExportOptions
                {
                    MountPoint = directory,
                    Files = [.. exports.Select(static e => new FuseFile { Name = e.Name, Disk = e.Disk, ReadOnly = e.ReadOnly })],
                    IoUring = parseResult.GetValue(_fuseUring) switch { "on" => FuseIoUringMode.On, "off" => FuseIoUringMode.Off, _ => FuseIoUringMode.Auto },
                    LoggerFactory = loggerFactory,
                }
                : null;
            UblkServeOptions? ublk = parseResult.GetValue(_ublk)
                ? new UblkServeOptions
                {
                    FirstId = parseResult.GetValue(_ublkId),
                    Recoverable = parseResult.GetValue(_ublkRecoverable),
                    UserCopy = parseResult.GetValue(_ublkUserCopy) switch
                    {
                        "on" => UblkUserCopyMode.On,
                        "off" => UblkUserCopyMode.Off,
                        _ => UblkUserCopyMode.Auto,
                    },
                    QueueCount = parseResult.GetValue(_ublkQueues),
                    QueueDepth = parseResult.GetValue(_ublkDepth),
                    RecoverId = parseResult.GetValue(_recover),
                    LoggerFactory = loggerFactory,
                }
                : null;
            var stacks = new List<(string Name, DriverInstance Instance)>();
            for (int i = 0; i < exports.Count; i++)
            {
                stacks.Add((exports[i].Name, instances[i]));
            }

            var served = exports.Select(static e => (e.Name, e.Disk)).ToList();
            int status = ServeAsync(options, fuse, parseResult.GetValue(_control), controlExports, otherExports, ublk, exports, stacks, served, parseResult.GetValue(_run), metrics, () => serving = true).GetAwaiter().GetResult();
            PrintFilterReports(stacks);
            return status;
        }
        finally
        {
            if (_privateSocketDirectory is not null)
            {
                Directory.Delete(_privateSocketDirectory, recursive: true);
            }

            foreach (DriverInstance instance in instances)
            {
                instance.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }

            if (!serving)
            {
                // A refused start leaves nothing behind, as a command refused before any disk was made does.
                DriverCatalog.RemoveCreatedFiles("serve", instances);
            }

            loggerFactory.Dispose();
        }
    }

    /// <summary>Refuses a --control or --listen unix: path that holds something other than a socket, which is left alone.</summary>
    /// <exception cref="IOException">Such a path.</exception>
    private void CheckSocketPaths(ParseResult parseResult)
    {
        if (parseResult.GetValue(_control) is { Length: > 0 } control)
        {
            Blkmq.Nbd.UnixSocketPath.ThrowIfNotASocket("--control " + control, control);
        }

        foreach (string listen in parseResult.GetValue(_listen) ?? [])
        {
            if (listen.StartsWith("unix:", StringComparison.Ordinal) && listen is not "unix:-" and not "unix:")
            {
                Blkmq.Nbd.UnixSocketPath.ThrowIfNotASocket("--listen " + listen, listen["unix:".Length..]);
            }
        }
    }

    private (NbdServerOptions? Nbd, List<NbdExport> Exports) CreateOptions(ParseResult parseResult, List<DriverInstance> instances, ILoggerFactory loggerFactory)
    {
        // Every export is parsed and checked before any is created: a refused command line leaves no file behind.
        bool readOnly = parseResult.GetValue(_readOnly);
        List<ExportSpec> specs = [.. (parseResult.GetValue(_exports) ?? []).Select(text => ParseExport(text, readOnly)), .. (parseResult.GetValue(_images) ?? []).Select(ImageExport)];
        if (specs.Count == 0)
        {
            specs.Add(ParseExport(s_defaultExport, readOnly));
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (ExportSpec spec in specs)
        {
            if (!names.Add(spec.Name))
            {
                throw new FormatException($"{spec.Text}: export name '{spec.Name}' is used twice; export names must be unique.");
            }
        }

        // Two disks of one name would share their log lines, statistics and metrics series: refused before any exists.
        var disks = new Dictionary<string, ExportSpec>(StringComparer.Ordinal);
        foreach (ExportSpec spec in specs)
        {
            foreach (string disk in DiskNames(spec))
            {
                if (!disks.TryAdd(disk, spec))
                {
                    ExportSpec other = disks[disk];
                    throw new FormatException(ReferenceEquals(other, spec)
                        ? $"{spec.Text}: two of its disks are named '{disk}'; disk names must be unique."
                        : $"{other.Text} and {spec.Text} both make a disk named '{disk}' (the null and memory drivers name disk i NAME+i); rename an export or set name=.");
                }
            }
        }

        bool ublk = parseResult.GetValue(_ublk);
        bool userCopyGiven = parseResult.GetResult(_ublkUserCopy) is { Implicit: false };
        bool queuesGiven = parseResult.GetResult(_ublkQueues) is { Implicit: false };
        bool depthGiven = parseResult.GetResult(_ublkDepth) is { Implicit: false };
        if (!ublk && (parseResult.GetValue(_ublkId) != -1 || parseResult.GetValue(_ublkRecoverable) || parseResult.GetValue(_recover) is not null || userCopyGiven || queuesGiven || depthGiven))
        {
            throw new FormatException("--ublk-id, --ublk-recoverable, --ublk-user-copy, --ublk-queues, --ublk-depth and --recover need --ublk.");
        }

        if ((queuesGiven && parseResult.GetValue(_ublkQueues) is < 1 or > 4096) || (depthGiven && parseResult.GetValue(_ublkDepth) is < 1 or > 4096))
        {
            throw new FormatException("--ublk-queues and --ublk-depth must be 1 to 4096.");
        }

        if (parseResult.GetValue(_recover) is not null && (userCopyGiven || queuesGiven || depthGiven || parseResult.GetValue(_ublkRecoverable)))
        {
            throw new FormatException("--recover N takes over device N as it was created: no --ublk-user-copy, --ublk-recoverable, --ublk-queues or --ublk-depth.");
        }

        if (parseResult.GetValue(_recover) is int recoverId && (recoverId < 0 || specs.Count != 1))
        {
            throw new FormatException("--recover N: N must not be negative, and the server must have exactly one export.");
        }

        string[] listenTexts = parseResult.GetValue(_listen) is { Length: > 0 } listen ? listen : ["127.0.0.1:" + NbdServerOptions.DefaultPort.ToString(System.Globalization.CultureInfo.InvariantCulture)];
        bool nbd = listenTexts is not ["none"];
        if (!nbd && parseResult.GetValue(_fuse) is null && !ublk)
        {
            throw new FormatException("--listen none: nothing would serve the exports; add --fuse DIR or --ublk.");
        }

        var exports = new List<NbdExport>();
        NbdServerOptions? serverOptions = null;
        if (nbd)
        {
            for (int i = 0; i < listenTexts.Length; i++)
            {
                if (listenTexts[i] == "unix:-")
                {
                    // A private socket (nbdkit's -U -): in a fresh directory only this server and its --run command know.
                    _privateSocketDirectory ??= CaptiveCommand.CreatePrivateSocketDirectory();
                    listenTexts[i] = "unix:" + Path.Combine(_privateSocketDirectory, "blkmq.sock");
                }
            }

            // A certificate without --tls offers TLS (as qemu-nbd's --tls-creds turns it on); with --tls off it would be
            // silently unused, which a user who gave it cannot mean.
            bool tlsGiven = parseResult.GetResult(_tls) is { Implicit: false };
            bool certificateGiven = parseResult.GetValue(_tlsCertificate) is not null || parseResult.GetValue(_tlsKey) is not null;
            if (tlsGiven && parseResult.GetValue(_tls) == "off" && certificateGiven)
            {
                throw new FormatException("--tls off with --tls-certificate or --tls-key: the certificate would not be used; drop it, or say --tls on or --tls require.");
            }

            NbdTlsMode tls = parseResult.GetValue(_tls) switch
            {
                "on" => NbdTlsMode.On,
                "require" => NbdTlsMode.Require,
                _ when !tlsGiven && certificateGiven => NbdTlsMode.On,
                _ => NbdTlsMode.Off,
            };
            serverOptions = new NbdServerOptions
            {
                Exports = exports,
                Listeners = [.. listenTexts.Select(ParseListen)],
                TlsMode = tls,
                TlsCertificateFile = parseResult.GetValue(_tlsCertificate)?.FullName,
                TlsKeyFile = parseResult.GetValue(_tlsKey)?.FullName,
                MaxConnections = parseResult.GetValue(_maxConnections),
                BusyPoll = TimeSpan.FromMicroseconds(parseResult.GetValue(_busyPoll)),
                LoggerFactory = loggerFactory,
            };
            serverOptions.ValidateSettings();
        }

        // Only now, with the whole command line checked, are disks (and files a driver creates) made.
        foreach (ExportSpec spec in specs)
        {
            DriverInstance instance = CreateExport(spec, readOnly, loggerFactory);
            instances.Add(instance);
            exports.Add(new NbdExport
            {
                Name = spec.Name,
                Disk = instance.Disk,
                ReadOnly = readOnly,
                Description = "blkmq " + instance.Summary,
            });
        }

        serverOptions?.Validate();
        return (serverOptions, exports);
    }

    private static async Task<int> ServeAsync(
        NbdServerOptions? options,
        FuseExportOptions? fuseOptions,
        string? controlPath,
        IReadOnlyList<ControlExport> controlExports,
        IReadOnlyList<(string Name, string Stack)> otherExports,
        UblkServeOptions? ublkOptions,
        List<NbdExport> exports,
        IReadOnlyList<(string Name, DriverInstance Instance)> stacks,
        List<(string Name, Disk Disk)> served,
        string? run,
        IPEndPoint? metricsAddress,
        Action serving)
    {
        var stop = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var hurry = new CancellationTokenSource();
        FuseExport? fuse = null;
        void OnSignal(PosixSignalContext context)
        {
            // Handled here: stop cleanly and exit 0 instead of the runtime's default termination. A second signal
            // while the stop waits (a FUSE file still open, NBD requests still in flight) stops the waiting: open
            // files are unmounted by force and in-flight requests fail at once.
            context.Cancel = true;
            if (!stop.TrySetResult() && !hurry.IsCancellationRequested)
            {
                Console.Error.WriteLine("blkmq serve: stopping now, without waiting for open files and in-flight requests");
                Volatile.Read(ref fuse)?.StopWaiting();
                hurry.Cancel();
            }
        }

        using PosixSignalRegistration sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using PosixSignalRegistration sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        NbdServer? server = options is null ? null : new NbdServer(options);
        ControlServer? control = null;
        MetricsEndpoint? metrics = null;
        List<(Blkmq.Frontend.BlockExport Export, UblkDevice Device)> ublk = [];
        try
        {
            try
            {
                // First, so that the front ends' counters exist when a scraper first looks.
                metrics = metricsAddress is null ? null : MetricsEndpoint.Start(metricsAddress);
            }
            catch (IOException ex)
            {
                Console.Error.WriteLine($"blkmq serve: {ex.Message}");
                return Program.ExitIOError;
            }

            if (metrics is not null)
            {
                // stderr, as the logs: stdout carries only the export URIs.
                Console.Error.WriteLine($"blkmq serve: metrics in Prometheus format at {metrics.Uri}");
            }

            try
            {
                if (server is not null)
                {
                    await server.StartAsync().ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is SocketException or IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
            {
                // UnauthorizedAccessException: a certificate or key file that cannot be read (or is a directory).
                Console.Error.WriteLine($"blkmq serve: {ex.Message}");
                return Program.ExitIOError;
            }

            try
            {
                fuse = fuseOptions is null ? null : FuseExport.Mount(fuseOptions);
            }
            catch (ArgumentException ex)
            {
                // A mount point that is no directory, an export name that cannot be a file name: the user's arguments.
                Console.Error.WriteLine($"blkmq serve: --fuse {fuseOptions!.MountPoint}: {ex.Message.Replace($" (Parameter '{ex.ParamName}')", string.Empty, StringComparison.Ordinal)}");
                return Program.ExitBadArguments;
            }
            catch (Exception ex) when (ex is IOException or PlatformNotSupportedException)
            {
                Console.Error.WriteLine($"blkmq serve: --fuse {fuseOptions!.MountPoint}: {ex.Message.Split('\n')[0]}");
                return Program.ExitIOError;
            }

            try
            {
                ublk = ublkOptions?.StartAll(exports) ?? [];
            }
            catch (Exception ex) when (ex is UblkException or NotSupportedException or ArgumentException)
            {
                Console.Error.WriteLine($"blkmq serve: --ublk: {ex.Message.Split('\n')[0]}");
                return ex is ArgumentException ? Program.ExitBadArguments : Program.ExitIOError;
            }

            // A power-cycled device comes back as a new disk: every front end serves it from then on.
            NbdServer? nbd = server;
            FuseExport? files = fuse;
            List<(Blkmq.Frontend.BlockExport Export, UblkDevice Device)> blockDevices = ublk;
            void PoweredOn(string name, Disk disk)
            {
                nbd?.ReplaceDisk(name, disk);
                files?.ReplaceDisk(name, disk);
                foreach ((Blkmq.Frontend.BlockExport export, UblkDevice _) in blockDevices)
                {
                    if (string.Equals(export.Name, name, StringComparison.Ordinal))
                    {
                        export.ReplaceDisk(disk);
                    }
                }

                lock (served)
                {
                    int index = served.FindIndex(e => e.Name == name);
                    if (index >= 0)
                    {
                        served[index] = (name, disk);
                    }
                }
            }

            // iostat (blkmq stat) is answered here for every export, whatever its driver; the rest is the null driver's.
            var protocol = new ControlProtocol(controlExports, PoweredOn, otherExports);
            ValueTask<string> Execute(string line)
            {
                string[] words = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
                if (words is ["iostat", ..])
                {
                    lock (served)
                    {
                        return ValueTask.FromResult(IostatReply.Execute(words, served));
                    }
                }

                return words is ["help"] ? ValueTask.FromResult("ok " + ControlProtocol.Usage + " | " + IostatReply.Usage) : protocol.ExecuteAsync(line);
            }

            // Filter commands (mark, stats) go to the filters of each stack first.
            control = controlPath is null ? null : new ControlServer(controlPath, new FilterControl(stacks, Execute).ExecuteAsync);
            try
            {
                control?.Start();
            }
            catch (Exception ex) when (ex is SocketException or IOException or UnauthorizedAccessException or ArgumentException)
            {
                // ArgumentException: a path longer than a Unix socket address holds (108 bytes). Binding in a missing
                // directory fails with EADDRNOTAVAIL ("Cannot assign requested address"): say what is wrong.
                string why = Path.GetDirectoryName(Path.GetFullPath(controlPath!)) is { Length: > 0 } directory && !Directory.Exists(directory)
                    ? $"the directory {directory} does not exist"
                    : Program.OneLine(ex);
                Console.Error.WriteLine($"blkmq serve: --control {controlPath}: {why}");
                return Program.ExitIOError;
            }

            serving();
            // The endpoints go to stdout for scripts, except under --run: there stdout is CMD's alone (a piped
            // `--run 'nbdcopy "$uri" -'` must carry only the disk's bytes, as with nbdkit), and they go to stderr.
            TextWriter endpoints = run is null ? Console.Out : Console.Error;
            PrintEndpoints(endpoints, server, options, fuse);
            foreach ((Blkmq.Frontend.BlockExport _, UblkDevice device) in ublk)
            {
                endpoints.WriteLine(device.BlockDevicePath);
            }

            endpoints.Flush();
            if (run is not null)
            {
                return await RunCaptiveAsync(run, exports[0].Name, server, options?.TlsMode ?? NbdTlsMode.Off, fuse, ublk.Count > 0 ? ublk[0].Device.BlockDevicePath : null, stop.Task).ConfigureAwait(false);
            }

            Console.Out.Flush();

            // Serving only files, the server has nothing left to do once someone else unmounts them (with --ublk and
            // --listen none there may be no FUSE mount either).
            await (server is null && fuse is not null ? Task.WhenAny(stop.Task, fuse.Completion) : stop.Task).ConfigureAwait(false);
            return 0;
        }
        finally
        {
            // Control commands end first, so none changes a device while its disk is torn down; then the files go,
            // then the NBD server finishes or fails what is in flight.
            if (control is not null)
            {
                await control.StopAsync().ConfigureAwait(false);
            }

            // IO a filter holds on purpose (delay, rate) goes on now, so that the front ends' drains below do not wait
            // out its delays (dm-delay flushes its delayed bios when the device is suspended).
            foreach ((string _, DriverInstance instance) in stacks)
            {
                foreach (Blkmq.Filters.BlockFilter filter in Blkmq.Filters.FilterStack.FindFilters(instance))
                {
                    filter.OnRemoving();
                }
            }

            // Block devices go first: STOP_DEV waits for their in-flight IO, which the disks still serve.
            foreach ((Blkmq.Frontend.BlockExport _, UblkDevice device) in ublk)
            {
                device.Dispose();
            }

            if (fuse is not null)
            {
                await fuse.DisposeAsync().ConfigureAwait(false);
            }

            if (server is not null)
            {
                using (var grace = CancellationTokenSource.CreateLinkedTokenSource(hurry.Token))
                {
                    grace.CancelAfter(TimeSpan.FromSeconds(10));
                    await server.StopAsync(grace.Token).ConfigureAwait(false);
                }

                await server.DisposeAsync().ConfigureAwait(false);
            }

            await FlushDisksAsync(stacks, served).ConfigureAwait(false);
            metrics?.Dispose();
        }
    }

    /// <summary>
    /// Makes what the clients wrote durable once every front end has stopped, as qemu-nbd flushes an image it closes:
    /// a write acknowledged without a later flush or FUA sits in a disk's write cache (a file's page cache) until then,
    /// and a clean stop must not leave it there. The flush goes to the driver's disk under the filters: it is the
    /// server's, not a client's, so log-writes does not log it (a crash test's flush points stay the workload's) and
    /// stats does not count it. Disks powered off (removed) or read-only have nothing to flush; a failure is reported
    /// in one line and the others are still flushed.
    /// </summary>
    private static async Task FlushDisksAsync(IReadOnlyList<(string Name, DriverInstance Instance)> stacks, List<(string Name, Disk Disk)> served)
    {
        List<(string Name, Disk Disk)> disks;
        lock (served)
        {
            disks = [.. served];
        }

        foreach ((string name, Disk top) in disks)
        {
            // Unfiltered, the served disk is the driver's (after a power cycle, its new disk).
            DriverInstance? stack = stacks.FirstOrDefault(s => s.Name == name).Instance;
            Disk disk = stack?.Owner is Blkmq.Filters.FilterBlock ? Blkmq.Filters.FilterStack.Driver(stack).Disk : top;
            if (!disk.HasWriteCache || disk.IsReadOnly || disk.IsRemoved)
            {
                continue;
            }

            BlockStatus status = await disk.OpenDevice().FlushStatusAsync().ConfigureAwait(false);
            if (status is not (BlockStatus.Ok or BlockStatus.Offline))
            {
                Console.Error.WriteLine($"blkmq serve: {name}: the flush at exit failed ({status}); writes since the last flush may not be durable.");
            }
        }
    }

    private static async Task<int> RunCaptiveAsync(string run, string export, NbdServer? server, NbdTlsMode tls, FuseExport? fuse, string? device, Task stopped)
    {
        Dictionary<string, string> variables = CaptiveCommand.Variables(export, server?.EndPoints ?? [], fuse?.FilePaths[0], device, tls);
        System.Diagnostics.Process process;
        try
        {
            process = CaptiveCommand.Start(run, variables);
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            Console.Error.WriteLine($"blkmq serve: --run: {ex.Message}");
            return Program.ExitIOError;
        }

        using (process)
        {
            Task exited = process.WaitForExitAsync();
            if (await Task.WhenAny(exited, stopped).ConfigureAwait(false) != exited)
            {
                await CaptiveCommand.StopAsync(process, exited).ConfigureAwait(false);
                await exited.ConfigureAwait(false);
            }

            return CaptiveCommand.ExitStatus(process);
        }
    }

    /// <summary>What the filters have to say on exit (stats), on stderr, once every client is gone.</summary>
    private static void PrintFilterReports(List<(string Name, DriverInstance Instance)> stacks)
    {
        foreach ((string name, DriverInstance instance) in stacks)
        {
            foreach (string report in Blkmq.Filters.FilterStack.Reports(instance))
            {
                Console.Error.WriteLine($"{name}: {report.ReplaceLineEndings(Environment.NewLine + name + ": ")}");
            }
        }
    }

    private static void PrintEndpoints(TextWriter output, NbdServer? server, NbdServerOptions? options, FuseExport? fuse)
    {
        if (server is not null)
        {
            bool tls = options!.TlsMode == NbdTlsMode.Require;
            foreach (NbdExport export in options.Exports)
            {
                foreach (EndPoint endPoint in server.EndPoints)
                {
                    output.WriteLine(NbdServer.FormatUri(endPoint, export.Name, tls));
                }
            }
        }

        foreach (string path in fuse?.FilePaths ?? [])
        {
            output.WriteLine(path);
        }
    }
}
