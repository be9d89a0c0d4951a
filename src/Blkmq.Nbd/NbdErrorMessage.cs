namespace Blkmq.Nbd;

/// <summary>The fixed texts sent with structured error replies (no formatting per request).</summary>
internal enum NbdErrorMessage : byte
{
    None = 0,
    UnknownCommand,
    InvalidFlags,
    ZeroLength,
    Misaligned,
    OutOfRange,
    TooLarge,
    ReadOnly,
    TrimUnsupported,
    NoMetaContext,
    FastZeroUnsupported,
    FlushArguments,
    IOFailed,
    ShuttingDown,
    BadPayload,
    Offline,
}
