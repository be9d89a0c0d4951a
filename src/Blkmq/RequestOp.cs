namespace Blkmq;

/// <summary>The operation of a request (the analogue of Linux <c>req_op</c>).</summary>
public enum RequestOp : byte
{
    /// <summary>Read data into the request's segments.</summary>
    Read = 0,

    /// <summary>Write the request's segments.</summary>
    Write = 1,

    /// <summary>Make all completed writes durable; carries no data and no sector.</summary>
    Flush = 2,

    /// <summary>The range's contents are no longer needed (trim / unmap).</summary>
    Discard = 3,

    /// <summary>Write zeroes over the range without a data buffer.</summary>
    WriteZeroes = 4,

    /// <summary>
    /// Zoned devices: write the request's segments at the write pointer of the zone that starts at the request's
    /// sector; the driver reports where the data went with <see cref="Request{TData}.SetResultSector(long)"/>
    /// before it ends the request (<c>REQ_OP_ZONE_APPEND</c>).
    /// </summary>
    ZoneAppend = 5,

    /// <summary>Zoned devices: explicitly open the zone that starts at the request's sector (<c>REQ_OP_ZONE_OPEN</c>).</summary>
    ZoneOpen = 6,

    /// <summary>Zoned devices: close the open zone that starts at the request's sector (<c>REQ_OP_ZONE_CLOSE</c>).</summary>
    ZoneClose = 7,

    /// <summary>Zoned devices: make the zone that starts at the request's sector full (<c>REQ_OP_ZONE_FINISH</c>).</summary>
    ZoneFinish = 8,

    /// <summary>Zoned devices: empty the zone that starts at the request's sector, its write pointer back at its start (<c>REQ_OP_ZONE_RESET</c>).</summary>
    ZoneReset = 9,

    /// <summary>Zoned devices: reset every sequential zone; carries no sector (<c>REQ_OP_ZONE_RESET_ALL</c>).</summary>
    ZoneResetAll = 10,
}
