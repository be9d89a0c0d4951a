using System.Globalization;
using System.Numerics;

namespace Blkmq.Filters;

/// <summary>
/// Changes the block-size limits the disk shows (nbdkit's blocksize filter, device-mapper's limits stacking):
/// <c>min</c> raises the logical block size, <c>max</c> caps the bytes per request (larger IO is split above the
/// filter), <c>preferred</c> sets the physical block size. Byte-granular clients (NBD, FUSE) keep working over a
/// larger block: the front end reads, modifies and writes whole blocks under its range lock.
/// </summary>
internal sealed class BlockSizeFilter : BlockFilter
{
    private readonly int _min;
    private readonly int _max;
    private readonly int _preferred;

    public BlockSizeFilter(FilterArguments arguments, Disk lower)
    {
        _min = (int)arguments.GetSize("min", lower.Limits.LogicalBlockSize);
        _max = (int)arguments.GetSize("max", lower.Limits.MaxBytes);
        _preferred = (int)arguments.GetSize("preferred", Math.Max(_min, lower.Limits.EffectivePhysicalBlockSize));
        // A logical block, as the kernel's: at most 4K (QueueLimits refuses more).
        if (!BitOperations.IsPow2(_min) || _min < lower.Limits.LogicalBlockSize || _min > 4096)
        {
            throw new FormatException($"filter 'blocksize': min={_min} must be a power of two from the disk's block size ({lower.Limits.LogicalBlockSize}) to 4K.");
        }

        if (_max < _min || _max % _min != 0 || _max > lower.Limits.MaxBytes)
        {
            throw new FormatException($"filter 'blocksize': max={_max} must be a multiple of min ({_min}) and at most the disk's {lower.Limits.MaxBytes} bytes per request.");
        }

        if (!BitOperations.IsPow2(_preferred) || _preferred < _min)
        {
            throw new FormatException($"filter 'blocksize': preferred={_preferred} must be a power of two, at least min ({_min}).");
        }
    }

    /// <inheritdoc/>
    public override string Name => "blocksize";

    /// <inheritdoc/>
    public override string Parameters => string.Create(CultureInfo.InvariantCulture, $"min={_min},max={_max},preferred={_preferred}");

    /// <inheritdoc/>
    public override DiskOptions Shape(Disk lower, string name)
    {
        DiskOptions shape = PassThroughShape(lower, name);
        return shape with
        {
            Capacity = lower.Capacity / _min * _min,
            Limits = shape.Limits with
            {
                LogicalBlockSize = _min,
                PhysicalBlockSize = _preferred,
                MaxSectors = _max >> 9,
                DiscardGranularity = Math.Max(shape.Limits.DiscardGranularity, _min),
            },
        };
    }
}
