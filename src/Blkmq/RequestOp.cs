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
}
