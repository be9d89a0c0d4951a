using System.Globalization;
using Blkmq.Drivers;

namespace Blkmq.Filters;

/// <summary>The filters of this project, as <see cref="FilterRegistry.Default"/> lists them.</summary>
internal static class BuiltInFilters
{
    public static IEnumerable<FilterDescriptor> All =>
    [
        new("pass", "Passes everything through unchanged (what the stack itself costs).", [], static (_, _) => new PassFilter()),
        new("readonly", "Exposes the disk read-only: writes, trims and zeroes fail with EPERM.", [], static (_, _) => new ReadOnlyFilter()),
        new(
            "cow",
            "Copy-on-write: writes go to a sparse overlay (memory or file), reads fall through; the disk below is opened read-only.",
            [
                new("file", "Overlay file, a new one (an existing path is refused; created empty and sparse at start, deleted at exit unless keep=1); default: memory (a memfd, gone with the process).", string.Empty),
                new("keep", "Keep the overlay file at exit (the written blocks at their offsets, holes elsewhere; not reopened as an overlay).", "0"),
            ],
            static (a, lower) => new CowFilter(a, lower)),
        new(
            "delay",
            "Holds each IO before it goes below, per operation (read=2ms,write=5ms).",
            [
                new("read", "Delay of reads (5ms, 2s, 100us; ns, us, ms, s, m, h; a bare number is ms; at most 24h).", "0"),
                new("write", "Delay of writes.", "0"),
                new("flush", "Delay of flushes.", "0"),
                new("trim", "Delay of discards.", "0"),
                new("zero", "Delay of write zeroes.", "0"),
                new("all", "Delay of every operation not given on its own.", "0"),
            ],
            static (a, _) => new DelayFilter(a)),
        new(
            "error",
            "Fails IO on purpose: an errno, a rate, a byte range or bad sectors, some operations, so many times, only while a trigger file exists.",
            [
                new("error", "The error: " + ErrnoNames.Known + ".", "EIO"),
                new("rate", "Share of matching IO that fails (1%, 0.5%, 0.01).", "100%"),
                new("range", "Only IO touching START-END (bytes, END excluded, K/M/G suffixes).", "whole disk"),
                new("sectors", "Only IO touching these bad sectors: START-END;START-END (512-byte, inclusive, as null's badblocks).", "none"),
                new("interval", "Only every N-th matching IO may fail (the kernel's fault_attr interval).", "1"),
                new("times", "Fail at most N IOs in all; -1 no limit.", "-1"),
                new("ops", "Only these operations: all, read, write (and trim, zero), flush.", "all"),
                new("file", "Fail only while this file exists.", string.Empty),
            ],
            static (a, _) => new ErrorFilter(a)),
        new(
            "flakey",
            "dm-flakey: up for UP, then for DOWN fails IO (error), fails writes (error-writes) or drops writes (drop-writes), in a cycle.",
            [
                new("up", "Time the disk works (60s, 500ms).", "60s"),
                new("down", "Time the disk misbehaves; 0 never.", "0"),
                new("mode", "error, error-writes or drop-writes.", "error"),
            ],
            static (a, _) => new FlakeyFilter(a)),
        new(
            "log-writes",
            "dm-log-writes: logs every completed write (with data), trim, zero, flush and FUA, and marks, for 'blkmq replay'.",
            [new("file", "The log file (created, or replaced if it is an earlier write log; any other existing file is refused; required).", string.Empty)],
            static (a, lower) => new LogWritesFilter(a, lower)),
        new(
            "stats",
            "Counts IO per operation and keeps latency histograms; reported on exit and by 'blkmq ctl filters EXPORT'.",
            [new("sample", "Time one IO in N (a power of two) per request slot with the precise clock; 1 every IO.", StatsFilter.DefaultSample.ToString(CultureInfo.InvariantCulture))],
            static (a, _) => new StatsFilter(a)),
        new(
            "rate",
            "Limits bandwidth and IOPS with a token bucket.",
            [
                new("rate", "Bytes per second (K/M/G suffixes); 0 no limit.", "0"),
                new("iops", "Operations per second; 0 no limit.", "0"),
                new("burst", "Idle time that may be spent at once.", "10ms"),
            ],
            static (a, _) => new RateFilter(a)),
        new(
            "blocksize",
            "Changes block-size limits: min (logical block), max (bytes per request, larger IO is split), preferred (physical block).",
            [
                new("min", "Logical block size, a power of two from the disk's to 4K.", "the disk's"),
                new("max", "Most bytes per request.", "the disk's"),
                new("preferred", "Physical (preferred) block size.", "the disk's"),
            ],
            static (a, lower) => new BlockSizeFilter(a, lower)),
        new(
            "offset",
            "Exposes a byte range of the disk below.",
            [
                new("offset", "First byte (K/M/G suffixes).", "0"),
                new("range", "Length in bytes.", "to the end"),
            ],
            static (a, lower) => OffsetFilter.CreateOffset(a, lower)),
        new(
            "partition",
            "Exposes one partition of an MBR (1-4) or GPT table on the disk below.",
            [new("partition", "The partition's number.", "1")],
            static (a, lower) => OffsetFilter.CreatePartition(a, lower)),
    ];
}
