using System.Runtime.InteropServices;

namespace Blkmq.Emulation;

/// <summary>A run of bad sectors (512-byte units, as null_blk's <c>badblocks</c> attribute counts them).</summary>
/// <param name="Sector">The first bad sector.</param>
/// <param name="Count">How many sectors from <paramref name="Sector"/> are bad; at least 1.</param>
[StructLayout(LayoutKind.Auto)]
public readonly record struct BadBlockRange(long Sector, long Count)
{
    /// <summary>Gets the sector after the last bad one.</summary>
    public long End => Sector + Count;
}
