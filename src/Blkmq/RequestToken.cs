using System.Runtime.CompilerServices;

namespace Blkmq;

/// <summary>
/// A 64-bit name for one IO (rule 10): its hardware queue, its tag and its generation, packed so that a driver can
/// carry it through a foreign API (io_uring <c>user_data</c>, a librbd callback argument, a network header) and
/// find the request again with <see cref="TagSet{TDriver, TData, THw, TDisk}.TryGetRequest(RequestToken, out Request{TData})"/>.
/// A token finds that exact IO while the driver owns it, and nothing after it ended, even once its tag serves a
/// later IO.
/// </summary>
/// <remarks>
/// Layout, high to low: 12 bits hardware queue index + 1 (so a token is never 0), 16 bits tag, 36 bits generation
/// (the low bits of the slot's IO count). A stale token could match only after 2^36 further IOs through its tag.
/// The default token names no IO.
/// </remarks>
public readonly record struct RequestToken
{
    internal const int GenerationBits = 36;
    internal const long GenerationMask = (1L << GenerationBits) - 1;
    private const int TagShift = GenerationBits;
    private const int QueueShift = GenerationBits + 16;

    /// <summary>Initializes a token from the value a foreign API carried.</summary>
    /// <param name="value">A value obtained from <see cref="Value"/>.</param>
    public RequestToken(ulong value) => Value = value;

    /// <summary>Gets the packed value, to put into <c>user_data</c> or a callback argument.</summary>
    public ulong Value { get; }

    /// <summary>Gets the hardware queue index the IO was dispatched to.</summary>
    public int HwQueueIndex => (int)(Value >> QueueShift) - 1;

    /// <summary>Gets the IO's tag within its hardware queue.</summary>
    public int Tag => (int)((Value >> TagShift) & 0xFFFF);

    /// <summary>Gets whether the token names an IO at all (the default does not).</summary>
    public bool IsValid => Value != 0;

    internal long GenerationBitsValue => (long)(Value & GenerationMask);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static RequestToken Create(int hwQueueIndex, int tag, long generation) =>
        new(((ulong)(uint)(hwQueueIndex + 1) << QueueShift) | ((ulong)(uint)tag << TagShift) | (ulong)(generation & GenerationMask));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal bool Matches(long generation) => (generation & GenerationMask) == GenerationBitsValue;

    /// <inheritdoc/>
    public override string ToString() => $"RequestToken(hctx {HwQueueIndex}, tag {Tag}, generation {GenerationBitsValue})";
}
