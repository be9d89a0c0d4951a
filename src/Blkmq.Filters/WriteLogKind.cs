namespace Blkmq.Filters;

/// <summary>What a write-log entry records.</summary>
internal enum WriteLogKind : byte
{
    /// <summary>A write; its data follows.</summary>
    Write = 1,

    /// <summary>A discard (replayed as zeroes).</summary>
    Discard = 2,

    /// <summary>Write zeroes.</summary>
    WriteZeroes = 3,

    /// <summary>A flush: every write logged before it was durable when it completed.</summary>
    Flush = 4,

    /// <summary>A named mark (<c>blkmq ctl mark NAME</c>).</summary>
    Mark = 5,
}
