namespace Blkmq;

/// <summary>
/// The condition of a zone (Linux <c>enum blk_zone_cond</c>, same values): the states of the ZBC / ZNS zone
/// state machine.
/// </summary>
public enum ZoneCondition : byte
{
    /// <summary>A conventional zone, which has no write pointer (<c>BLK_ZONE_COND_NOT_WP</c>).</summary>
    NotWritePointer = 0,

    /// <summary>Nothing written; the write pointer is at the zone's start (<c>BLK_ZONE_COND_EMPTY</c>).</summary>
    Empty = 1,

    /// <summary>Opened by a write (<c>BLK_ZONE_COND_IMP_OPEN</c>); the device may close it to open another.</summary>
    ImplicitOpen = 2,

    /// <summary>Opened by a zone open operation (<c>BLK_ZONE_COND_EXP_OPEN</c>); stays open until closed, finished or reset.</summary>
    ExplicitOpen = 3,

    /// <summary>Partly written and not open; still counts against the active zone limit (<c>BLK_ZONE_COND_CLOSED</c>).</summary>
    Closed = 4,

    /// <summary>The zone can only be read (<c>BLK_ZONE_COND_READONLY</c>).</summary>
    ReadOnly = 0xD,

    /// <summary>Written up to its capacity, or finished (<c>BLK_ZONE_COND_FULL</c>).</summary>
    Full = 0xE,

    /// <summary>The zone can be neither read nor written (<c>BLK_ZONE_COND_OFFLINE</c>).</summary>
    Offline = 0xF,
}
