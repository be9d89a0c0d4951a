using Blkmq.Drivers.Null;

namespace Blkmq.Fuzz;

/// <summary>
/// <c>nullblk-params</c>: the input is a null_blk parameter list (<c>irqmode=2,completion_nsec=100000,size=1G</c>),
/// parsed and validated as <c>blkmq bench</c> and <c>blkmq serve</c> do before making a disk. A bad list must fail
/// with a <see cref="FormatException"/> or an <see cref="ArgumentException"/> naming the parameter; nothing else.
/// </summary>
internal sealed class NullBlkParamsTarget : IFuzzTarget
{
    public const string TargetName = "nullblk-params";

    public string Name => TargetName;

    public void Run(ReadOnlySpan<byte> input)
    {
        string spec = FuzzText.Argument(input);
        try
        {
            NullBlockOptions options = NullBlockOptions.Parse(spec);
            options.Validate();
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            if (string.IsNullOrWhiteSpace(e.Message))
            {
                throw new FuzzFindingException($"'{spec}' was refused without a message", e);
            }
        }
    }
}
