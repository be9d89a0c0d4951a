using System.Globalization;

namespace Blkmq.Filters;

/// <summary>
/// Fails IO on purpose (nbdkit's error filter, dm-error/dm-dust): with an errno, at a rate, only in a byte range,
/// only for some operations, and only while a trigger file exists. IO it does not fail passes through.
/// </summary>
internal sealed class ErrorFilter : BlockFilter
{
    private readonly BlockStatus _status;
    private readonly double _rate;
    private readonly long _start;
    private readonly long _end;
    private readonly string _ops;
    private readonly string? _file;
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

        _parameters = string.Create(CultureInfo.InvariantCulture, $"error={error.ToUpperInvariant()},rate={_rate * 100}%,ops={_ops}")
            + (_end == long.MaxValue ? string.Empty : string.Create(CultureInfo.InvariantCulture, $",range={_start}-{_end}"))
            + (_file is null ? string.Empty : ",file=" + _file);
    }

    /// <inheritdoc/>
    public override string Name => "error";

    /// <inheritdoc/>
    public override string Parameters => _parameters;

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
            "write" => io.Op is RequestOp.Write or RequestOp.Discard or RequestOp.WriteZeroes,
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

        if (_rate < 1.0 && Random.Shared.NextDouble() >= _rate)
        {
            return false;
        }

        return _file is null || File.Exists(_file);
    }
}
