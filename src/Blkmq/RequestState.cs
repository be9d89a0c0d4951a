namespace Blkmq;

/// <summary>
/// The states of a request slot. The slot's state word packs the IO's generation, its status (8 bits) and one of
/// these states (4 bits), so every transition, with the status it carries, is one compare-and-swap on one
/// <see langword="long"/>, and a handle from an earlier generation can never match.
/// </summary>
internal static class RequestState
{
    public const int Bits = 4;
    public const long Mask = (1 << Bits) - 1;
    public const int StatusShift = Bits;
    public const int GenerationShift = Bits + 8;

    /// <summary>The tag is free.</summary>
    public const int Free = 0;

    /// <summary>The block layer owns the request: being filled, plugged or waiting on a dispatch list.</summary>
    public const int Prepared = 1;

    /// <summary>Inside <c>QueueRq</c>: the driver owns it; an end now is collected by the dispatcher.</summary>
    public const int Dispatching = 2;

    /// <summary>The driver owns it and <c>QueueRq</c> has returned.</summary>
    public const int InFlight = 3;

    /// <summary>The driver called <c>Complete</c>: queued to the completion context, owned by the block layer.</summary>
    public const int Completing = 4;

    /// <summary>Inside the driver's <c>Complete</c> callback: the driver owns it again and must end it.</summary>
    public const int CompleteCallback = 5;

    /// <summary>Inside the driver's <c>Timeout</c> callback: the driver still owns it and may end it.</summary>
    public const int TimingOut = 6;

    /// <summary>
    /// Ended during <c>QueueRq</c> or <c>Timeout</c>: the dispatcher or the timeout handler publishes the status
    /// when the callback returns.
    /// </summary>
    public const int EndedInline = 7;

    /// <summary>Ended: the status is published, the tag is freed when the submitter has seen it.</summary>
    public const int Ended = 8;

    /// <summary>The submitter has read the status and is freeing the slot (a second read of the result fails).</summary>
    public const int Releasing = 9;

    public static long Word(long generation, int state) => (generation << GenerationShift) | (uint)state;

    public static long Word(long generation, int state, BlockStatus status) =>
        (generation << GenerationShift) | ((long)status << StatusShift) | (uint)state;

    public static long Generation(long word) => word >> GenerationShift;

    public static BlockStatus Status(long word) => (BlockStatus)(byte)(word >> StatusShift);

    public static int State(long word) => (int)(word & Mask);

    /// <summary>Whether the driver owns a request in this state, so its handle may be read and ended.</summary>
    public static bool IsDriverOwned(int state) =>
        state is Dispatching or InFlight or CompleteCallback or TimingOut;
}
