using Blkmq.Bench;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;

namespace Blkmq.Cli;

/// <summary>Writes a benchmark's result to standard output as tables, JSON or one terse line.</summary>
internal static class BenchReportWriter
{
    public static void Write(BenchInvocation invocation, BenchResult result)
    {
        switch (invocation.Format)
        {
            case OutputFormat.Json:
                WriteJson(Console.OpenStandardOutput(), invocation, result);
                break;
            case OutputFormat.Terse:
                Console.Out.WriteLine(Terse(invocation.Settings, result));
                break;
            default:
                WriteTables(invocation, result);
                break;
        }
    }

    /// <summary>One line of ';'-separated fields, in the order <c>blkmq bench --help</c> lists.</summary>
    public static string Terse(BenchSettings settings, BenchResult result)
    {
        LatencySummary lat = result.LatencyNs;
        return string.Join(
            ';',
            "blkmq",
            "1",
            settings.ModeName,
            I(settings.BlockSize),
            I(settings.IoDepth),
            I(settings.Jobs),
            I(result.Ios),
            D(result.Seconds, 6),
            D(result.Iops, 1),
            D(result.BandwidthMiBPerSecond, 2),
            D(lat.Mean, 1),
            I(lat.P50),
            I(lat.P90),
            I(lat.P99),
            I(lat.P999),
            I(lat.P9999),
            I(lat.Max),
            D(result.CpuNsPerIo, 1),
            D(result.AllocatedBytesPerIo, 4),
            I(result.Gen0Collections),
            I(result.Gen1Collections),
            I(result.Gen2Collections),
            I(result.Errors));
    }

    public static void WriteJson(Stream stream, BenchInvocation invocation, BenchResult result)
    {
   
        BenchSettings settings = invocation.Settings;     using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("tool", "blkmq bench");
            json.WriteStartObject("job");
            json.WriteString("rw", settings.ModeName);
            json.WriteNumber("rwmixread", settings.ReadMixPercent);
            json.WriteNumber("bs", settings.BlockSize);
            json.WriteNumber("iodepth", settings.IoDepth);
            json.WriteNumber("numjobs", settings.Jobs);
            json.WriteNumber("size", settings.Size);
            if (settings.IsCountBased)
            {
                json.WriteNumber("ios", settings.TotalIos);
            }
            else
            {
                json.WriteNumber("runtime_s", settings.Runtime.TotalSeconds);
                json.WriteNumber("warmup_s", settings.Warmup.TotalSeconds);
            }

            json.WriteString("driver", invocation.DriverName);
            json.WriteString("driver_params", invocation.DriverParameters);
            json.WriteBoolean("hipri", settings.Polled);
            json.WriteEndObject();

            json.WriteNumber("ios", result.Ios);
            json.WriteNumber("bytes", result.Bytes);
            json.WriteNumber("seconds", result.Seconds);
            json.WriteNumber("iops", result.Iops);
            json.WriteNumber("bw_mib_s", result.BandwidthMiBPerSecond);
            json.WriteStartObject("lat_ns");
            LatencySummary lat = result.LatencyNs;
            json.WriteNumber("mean", lat.Mean);
            json.WriteNumber("stddev", lat.StdDev);
            json.WriteNumber("min", lat.Min);
            json.WriteNumber("p50", lat.P50);
            json.WriteNumber("p90", lat.P90);
            json.WriteNumber("p99", lat.P99);
            json.WriteNumber("p99_9", lat.P999);
            json.WriteNumber("p99_99", lat.P9999);
            json.WriteNumber("max", lat.Max);
            json.WriteEndObject();
            json.WriteNumber("cpu_ns_per_io", result.CpuNsPerIo);
            json.WriteNumber("cpu_user_s", result.UserTime.TotalSeconds);
            json.WriteNumber("cpu_sys_s", result.SystemTime.TotalSeconds);
            json.WriteNumber("cpu_cores", result.CpuProcessors);
            json.WriteNumber("alloc_bytes", result.AllocatedBytes);
            json.WriteNumber("alloc_bytes_per_io", result.AllocatedBytesPerIo);
            json.WriteStartObject("gc");
            json.WriteNumber("gen0", result.Gen0Collections);
            json.WriteNumber("gen1", result.Gen1Collections);
            json.WriteNumber("gen2", result.Gen2Collections);
            json.WriteEndObject();
            json.WriteNumber("errors", result.Errors);
            if (result.FirstError is not null)
            {
                json.WriteString("first_error", result.FirstError);
            }

            json.WriteBoolean("cancelled", result.Cancelled);
            json.WriteNumber("warmup_s", result.WarmupSeconds);
            json.WriteStartArray("iops_per_second");
            foreach (double iops in result.IopsPerSecond)
            {
                json.WriteNumberValue(Math.Round(iops, 1));
            }

            json.WriteEndArray();
            WriteDiskStats(json, result.DiskStats);
            json.WriteEndObject();
        }

        stream.Write("\n"u8);
        stream.Flush();
    }

    private static void WriteDiskStats(Utf8JsonWriter json, DiskStats stats)
    {
        json.WriteStartObject("disk_stats");
        json.WriteNumber("read_ios", stats.ReadIos);
        json.WriteNumber("read_merges", stats.ReadMerges);
        json.WriteNumber("read_sectors", stats.ReadSectors);
        json.WriteNumber("read_ticks_ms", stats.ReadTicks);
        json.WriteNumber("write_ios", stats.WriteIos);
        json.WriteNumber("write_merges", stats.WriteMerges);
        json.WriteNumber("write_sectors", stats.WriteSectors);
        json.WriteNumber("write_ticks_ms", stats.WriteTicks);
        json.WriteNumber("in_flight", stats.InFlight);
        json.WriteNumber("io_ticks_ms", stats.IoTicks);
        json.WriteNumber("time_in_queue_ms", stats.TimeInQueue);
        json.WriteNumber("discard_ios", stats.DiscardIos);
        json.WriteNumber("discard_merges", stats.DiscardMerges);
        json.WriteNumber("discard_sectors", stats.DiscardSectors);
        json.WriteNumber("discard_ticks_ms", stats.DiscardTicks);
        json.WriteNumber("flush_ios", stats.FlushIos);
        json.WriteNumber("flush_ticks_ms", stats.FlushTicks);
        json.WriteEndObject();
    }

    private static void WriteTables(BenchInvocation invocation, BenchResult result)
    {
   
        BenchSettings settings = invocation.Settings;     string span = settings.IsCountBased
            ? string.Create(CultureInfo.InvariantCulture, $"ios={settings.TotalIos}")
            : string.Create(CultureInfo.InvariantCulture, $"runtime={settings.Runtime.TotalSeconds:0.###}s warmup={settings.Warmup.TotalSeconds:0.###}s");
        // Plain lines: Spectre would wrap the long parameter list at the terminal width mid-word.
        Console.Out.WriteLine(
            $"blkmq bench: rw={settings.ModeName} bs={BenchFormat.Size(settings.BlockSize)} iodepth={settings.IoDepth} numjobs={settings.Jobs} size={BenchFormat.Size(settings.Size)} {span}{(settings.Polled ? " hipri" : string.Empty)}");
        Console.Out.WriteLine($"driver={invocation.DriverName} driver_params={invocation.DriverParameters}");
        if (result.Cancelled)
        {
            AnsiConsole.MarkupLine("[yellow]Cancelled: the figures cover the part of the run that was measured.[/]");
        }

        LatencySummary lat = result.LatencyNs;
        var table = new Table().Border(TableBorder.Rounded).Title("Results (measured phase)");
        table.AddColumn("Metric");
        table.AddColumn(new TableColumn("Value").RightAligned());
        table.AddRow("IOPS", BenchFormat.Fixed(result.Iops, 0));
        table.AddRow("Bandwidth", BenchFormat.Fixed(result.BandwidthMiBPerSecond, 2) + " MiB/s");
        table.AddRow("IOs / seconds", string.Create(CultureInfo.InvariantCulture, $"{result.Ios} / {result.Seconds:F3}"));
        table.AddRow("Latency mean", BenchFormat.Latency(lat.Mean));
        table.AddRow("Latency p50", BenchFormat.Latency(lat.P50));
        table.AddRow("Latency p90", BenchFormat.Latency(lat.P90));
        table.AddRow("Latency p99", BenchFormat.Latency(lat.P99));
        table.AddRow("Latency p99.9", BenchFormat.Latency(lat.P999));
        table.AddRow("Latency p99.99", BenchFormat.Latency(lat.P9999));
        table.AddRow("Latency max", BenchFormat.Latency(lat.Max));
        table.AddRow("CPU per IO (user+sys)", BenchFormat.Fixed(result.CpuNsPerIo, 1) + " ns");
        table.AddRow("CPU use", BenchFormat.Fixed(result.CpuProcessors, 2) + " cores");
        table.AddRow("Allocated per IO", BenchFormat.Fixed(result.AllocatedBytesPerIo, 3) + " B");
        table.AddRow("GC gen0 / gen1 / gen2", string.Create(CultureInfo.InvariantCulture, $"{result.Gen0Collections} / {result.Gen1Collections} / {result.Gen2Collections}"));
        table.AddRow("IO errors", result.Errors == 0 ? "0" : $"[red]{result.Errors}[/]: {Markup.Escape(result.FirstError ?? string.Empty)}");
        AnsiConsole.Write(table);

        DiskStats stats = result.DiskStats;
        var disk = new Table().Border(TableBorder.Rounded).Title("Disk statistics (measured phase, /sys/block/<dev>/stat)");
        disk.AddColumn("");
        disk.AddColumn(new TableColumn("IOs").RightAligned());
        disk.AddColumn(new TableColumn("Merges").RightAligned());
        disk.AddColumn(new TableColumn("Sectors").RightAligned());
        disk.AddColumn(new TableColumn("Ticks (ms)").RightAligned());
        disk.AddRow("read", I(stats.ReadIos), I(stats.ReadMerges), I(stats.ReadSectors), I(stats.ReadTicks));
        disk.AddRow("write", I(stats.WriteIos), I(stats.WriteMerges), I(stats.WriteSectors), I(stats.WriteTicks));
        disk.AddRow("discard", I(stats.DiscardIos), I(stats.DiscardMerges), I(stats.DiscardSectors), I(stats.DiscardTicks));
        disk.AddRow("flush", I(stats.FlushIos), "", "", I(stats.FlushTicks));
        disk.Caption(string.Create(CultureInfo.InvariantCulture, $"in_flight {stats.InFlight} · io_ticks {stats.IoTicks} ms · time_in_queue {stats.TimeInQueue} ms"));
        AnsiConsole.Write(disk);
    }

    private static string I(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string D(double value, int decimals) => BenchFormat.Fixed(value, decimals);
}
