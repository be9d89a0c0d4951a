namespace Blkmq;

/// <summary>Modifiers of a request (the analogue of Linux <c>REQ_*</c> flags).</summary>
[Flags]
public enum RequestFlags : byte
{
    /// <summary>No modifier.</summary>
    None = 0,

    /// <summary>Forced unit access: the write is durable when the request ends.</summary>
    Fua = 1,

    /// <summary>For <see cref="RequestOp.WriteZeroes"/>: the device must not deallocate the range.</summary>
    NoUnmap = 2,

    /// <summary>The request goes to a poll queue and completes only when the queue is polled.</summary>
    Polled = 4,

    /// <summary>For <see cref="RequestOp.WriteZeroes"/>: fail quickly if zeroing would be slower than a write.</summary>
    NoFallback = 8,
}
