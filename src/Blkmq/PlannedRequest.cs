using System.Runtime.InteropServices;

namespace Blkmq;

/// <summary>One request a plugged batch turned into: possibly several merged IOs, possibly a part of a split one.</summary>
[StructLayout(LayoutKind.Auto)]
internal struct PlannedRequest
{
    public RequestOp Op;
    public RequestFlags Flags;
    public long Sector;
    public int Bytes;
    public int FirstSegment;
    public int SegmentCount;
    public int FirstEntry;
    public int EntryCount;

    /// <summary>Gets the completion cookie: which batch entries the request covers.</summary>
    public readonly long Cookie => ((long)FirstEntry << 32) | (uint)EntryCount;
}
