using Blkmq.Emulation;

namespace Blkmq.Drivers.Null;

/// <summary>
/// A null disk's bad sectors (null_blk's <c>badblocks</c> configfs attribute): the shared <see cref="BadBlockList"/>,
/// which tells the device to recompute its features when it changes. An IO that touches one fails with
/// <see cref="BlockStatus.IoError"/>. With <see cref="NullBlockOptions.BadBlocksOnce"/> a range is cleared by the first
/// IO it fails; with <see cref="NullBlockOptions.BadBlocksPartialIO"/> that IO transfers the whole blocks before the
/// bad one first.
/// </summary>
public sealed class NullBadBlocks : BadBlockList
{
    internal NullBadBlocks(Action changed)
        : base(changed)
    {
    }
}
