namespace Blkmq.Nbd;

/// <summary>
/// One request as the reader sees it between parsing and dispatch: the header's fields, how many payload bytes
/// follow it, and the outcome of validation (an NBD error and its message, or none).
/// </summary>
[System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Auto)]
internal struct NbdRequestHeader
{
    public ushort Flags;
    public ushort Type;
    public ulong Cookie;
    public ulong Offset;

    /// <summary>The effect length: the header's length, or a block-status payload's own length field.</summary>
    public ulong Length;

    /// <summary>The payload bytes that follow the header and are not consumed yet.</summary>
    public ulong Payload;

    /// <summary>0 for a valid request, else the NBD error to reply with.</summary>
    public uint Error;

    /// <summary>The fixed message that goes with <see cref="Error"/>.</summary>
    public NbdErrorMessage Message;

    public readonly bool IsValid => Error == 0;

    public void Reject(uint error, NbdErrorMessage message)
    {
        Error = error;
        Message = message;
    }
}
