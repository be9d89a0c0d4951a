using System.Diagnostics;
using System.Globalization;

namespace Blkmq.Filters;

/// <summary>
/// dm-flakey: the disk is up for <c>up</c> seconds, then for <c>down</c> seconds it fails every IO
/// (<c>mode=error</c>), fails only writes (<c>error-writes</c>) or acknowledges writes without writing them
/// (<c>drop-writes</c>), and so on in a cycle from the moment the filter is created.
/// </summary>
internal sealed class FlakeyFilter : BlockFilter
{
    private readonly long _start = Stopwatch.GetTimestamp();
    private readonly long _upTicks;
    private readonly long _cycleTicks;
    private readonly string _mode;
    private readonly string _parameters;

    public FlakeyFilter(FilterArguments arguments)
    {
        TimeSpan up = arguments.GetDuration("up", TimeSpan.FromSeconds(60));
        TimeSpan down = arguments.GetDuration("down", TimeSpan.Zero);
        _mode = arguments.GetChoice("mode", "error", "error", "error-writes", "drop-writes");
        _upTicks = (long)(up.TotalSeconds * Stopwatch.Frequency);
        _cycleTicks = _upTicks + (long)(down.TotalSeconds * Stopwatch.Frequency);
        _parameters = string.Create(CultureInfo.InvariantCulture, $"up={up.TotalSeconds}s,down={down.TotalSeconds}s,mode={_mode}");
    }

    /// <inheritdoc/>
    public override string Name => "flakey";

    /// <inheritdoc/>
    public override string Parameters => _parameters;

    /// <inheritdoc/>
    public override void Queue(FilterIo io)
    {
        if (!IsDown)
        {
            io.Forward();
            return;
        }

        bool write = io.Op is RequestOp.Write or RequestOp.Discard or RequestOp.WriteZeroes;
        switch (_mode)
        {
            case "error":
                io.End(BlockStatus.IoError);
                break;
            case "error-writes" when write:
                io.End(BlockStatus.IoError);
                break;
            case "drop-writes" when write:
                io.End(BlockStatus.Ok);
                break;
            default:
                io.Forward();
                break;
        }
    }

    private bool IsDown => _cycleTicks > _upTicks && (Stopwatch.GetTimestamp() - _start) % _cycleTicks >= _upTicks;
}
