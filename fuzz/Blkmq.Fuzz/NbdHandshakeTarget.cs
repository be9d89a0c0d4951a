namespace Blkmq.Fuzz;

/// <summary>
/// <c>nbd-handshake</c>: the input is everything a client sends from the greeting on (client flags, options, and
/// after <c>NBD_OPT_GO</c> or <c>NBD_OPT_EXPORT_NAME</c> the transmission phase too), as qemu-img or nbdcopy send it.
/// </summary>
internal sealed class NbdHandshakeTarget : IFuzzTarget
{
    public const string TargetName = "nbd-handshake";

    public string Name => TargetName;

    public void Run(ReadOnlySpan<byte> input) => NbdFuzzServer.Shared.Exchange(default, input);
}
