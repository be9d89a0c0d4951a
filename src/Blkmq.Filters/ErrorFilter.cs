using System.Globalization;
using Blkmq.Emulation;

namespace Blkmq.Filters;

/// <summary>
/// Fails IO on purpose (nbdkit's error filter, dm-error/dm-dust): with an errno, at a rate, only in a byte range or on
/// bad sectors, only for some operations, only so many times, and only while a trigger file exists. IO it does not
/// fail passes through. The bad sectors are the null driver's <see cref="BadBlockList"/> and the rate, interval and
/// times its <see cref="FaultInjector"/> (null_blk's <c>badblocks</c> and fault attributes): one copy of each.
/// </summary>
internal sealed class ErrorFilter : BlockFilter
{
    private readonly BlockStatus _status;
    private readonly double _rate;
    private readonly long _start;
    private readonly long _end;
    private readonly string _ops;
    private readonly string? _file;
    private readonly BadBlockList? _sectors;
    private readonly FaultInjector? _injector;
    private readonly string _parameters;

    public ErrorFilter(FilterArguments arguments)
    {
        string error = arguments.GetString("error") ?? "EIO";
        _status = ErrnoNames.Parse(Name, error);
        _rate = arguments.GetProbability("rate", 1.0);
        _ops = arguments.GetChoice("ops", "all", "all", "read", "write", "flush");
        _file = arguments.GetString("file");
        _start = 0;
        _end = long.MaxValue;
        if (arguments.GetString("range") is { } range)
        {
            int dash = range.IndexOf('-', StringComparison.Ordinal);
            if (dash <= 0 || !SizeParser.TryParse(range.AsSpan(0, dash), out _start) || !SizeParser.TryParse(range.AsSpan(dash + 1), out _end) || _end <= _start)
            {
                throw new FormatException($"filter 'error': range={range} must be START-END in bytes (END excluded, K/M/G suffixes), START < END.");
            }
        }

        if (arguments.GetString("sectors") is { } sectors)
        {
            try
            {
                _sectors = new BadBlockList();
                foreach (BadBlockRange bad in BadBlockList.ParseRanges(sectors, ';', '+'))
                {
                    _sectors.Add(bad.Sector, bad.Count);
                }
            }
            catch (FormatException ex)
            {
                throw new FormatException($"filter 'error': sectors={sectors}: {ex.Message} (512-byte sectors, ranges separated by ';').", ex);
            }
        }

        long interval = arguments.GetInt64("interval", 1, 1, long.MaxValue);
        int times = (int)arguments.GetInt64("times", -1, -1, int.MaxValue);
        if (times == 0)
        {
            _rate = 0;
        }
        else if (_rate > 0 && (_rate < 1 || interval > 1 || times != -1))
        {
            _injector = new FaultInjector(interval, _rate, space: 0, times);
        }

        _parameters = string.Create(CultureInfo.InvariantCulture, $"error={error.ToUpperInvariant()},rate={_rate * 100}%,ops={_ops}")
            + (_end == long.MaxValue ? string.Empty : string.Create(CultureInfo.InvariantCulture, $",range={_start}-{_end}"))
            + (_sectors is null ? string.Empty : ",sectors=" + string.Join(';', _sectors.Ranges.Select(static r => string.Create(CultureInfo.InvariantCulture, $"{r.Sector}-{r.End - 1}"))))
            + (interval == 1 ? string.Empty : string.Create(CultureInfo.InvariantCulture, $",interval={interval}"))
            + (times == -1 ? string.Empty : string.Create(CultureInfo.InvariantCulture, $",times={times}"))
            + (_file is null ? string.Empty : ",file=" + _file);
    }

    /// <inheritdoc/>
    public override string Name => "error";

    /// <inheritdoc/>
    public override bool SupportsZoned => true;

    /// <inheritdoc/>
    public override string Parameters => _parameters;

    /// <inheritdoc/>
    /// <remarks>
    /// With flushes among its operations the filter's disk has a write cache even over a disk without one: the block
    /// layer ends a flush to a disk without a cache at once (as the kernel does), so it would never reach the filter
    /// and <c>ops=flush</c> would never fail anything.
    /// </remarks>
    public override DiskOptions Shape(Disk lower, string name)
    {
        DiskOptions shape = PassThroughShape(lower, name);
        return _ops is "all" or "flush" ? shape with { WriteCache = true } : shape;
    }

    /// <inheritdoc/>
    public override void Queue(FilterIo io)
    {
        if (Fails(io))
        {
            io.End(_status);
            return;
        }

        io.Forward();
    }

    private bool Fails(FilterIo io)
    {
        bool opMatches = _ops switch
        {
            "read" => io.Op == RequestOp.Read,
            "write" => io.Op is RequestOp.Write or RequestOp.Discard or RequestOp.WriteZeroes or RequestOp.ZoneAppend,
            "flush" => io.Op == RequestOp.Flush,
            _ => true,
        };
        if (!opMatches)
        {
            return false;
        }

        if (io.Op != RequestOp.Flush && (io.Offset + io.Length <= _start || io.Offset >= _end))
        {
            return false;
        }

        if (_sectors is not null
            && (io.Op == RequestOp.Flush || !_sectors.Check(io.Offset >> 9, ((io.Offset + io.Length + 511) >> 9) - (io.Offset >> 9), out _, out _)))
        {
            return false;
        }

        if (_rate == 0 || (_file is not null && !File.Exists(_file)))
        {
            return false;
        }

        // Last: interval and times count only the IOs that could fail.
        return _injector is null || _injector.ShouldFail();
    }
}
