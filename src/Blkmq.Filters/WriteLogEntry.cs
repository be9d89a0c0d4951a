namespace Blkmq.Filters;

/// <summary>One entry of a write log: its kind, whether it was FUA, its range, and where its payload is in the log.</summary>
internal readonly record struct WriteLogEntry(WriteLogKind Kind, bool Fua, long Sequence, long Offset, long Length, long PayloadPosition, int PayloadLength, string? MarkName)
{
    /// <summary>Gets whether this entry makes the writes before it durable: a flush or a FUA write.</summary>
    public bool IsFlushPoint => Kind == WriteLogKind.Flush || (Kind == WriteLogKind.Write && Fua);
}
