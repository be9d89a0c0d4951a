namespace Blkmq;

/// <summary>The type of a zone of a zoned block device (Linux <c>enum blk_zone_type</c>, same values).</summary>
public enum ZoneType : byte
{
    /// <summary>A zone written randomly, like a regular disk; it has no write pointer (<c>BLK_ZONE_TYPE_CONVENTIONAL</c>).</summary>
    Conventional = 1,

    /// <summary>A zone that must be written sequentially at its write pointer (<c>BLK_ZONE_TYPE_SEQWRITE_REQ</c>).</summary>
    SequentialWriteRequired = 2,

    /// <summary>A zone that should be written sequentially but accepts random writes (<c>BLK_ZONE_TYPE_SEQWRITE_PREF</c>).</summary>
    SequentialWritePreferred = 3,
}
