namespace Blkmq.Nbd;

/// <summary>One content chunk of a structured read reply: data or a hole, relative to the request's offset.</summary>
/// <param name="Start">The first byte, relative to the request's offset.</param>
/// <param name="Length">The length in bytes.</param>
/// <param name="IsHole">Whether the range is a hole sent as <c>NBD_REPLY_TYPE_OFFSET_HOLE</c>.</param>
internal readonly record struct NbdReadChunk(int Start, int Length, bool IsHole);
