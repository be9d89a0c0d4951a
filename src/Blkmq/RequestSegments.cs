using System.Runtime.CompilerServices;

namespace Blkmq;

/// <summary>
/// The data segments of one request, as a driver sees them through <see cref="Request{TData}.Segments"/>. Every
/// access checks that the driver still owns that IO, so a segment list kept past the request's end (a forced end
/// by a timeout or disk removal, a copy read on another thread) fails with <see cref="InvalidOperationException"/>
/// instead of returning the buffers of whatever IO the slot serves next.
/// </summary>
/// <typeparam name="TData">The driver's per-request data.</typeparam>
/// <remarks>
/// The <see cref="Memory{T}"/> a driver takes out of the list is the submitter's buffer: it may be handed to a
/// device only while the request is owned, and a driver that lets a device keep it past a <c>Timeout</c> callback
/// answers <see cref="TimeoutAction.WillEnd"/> (rule 8).
/// </remarks>
public readonly struct RequestSegments<TData>
{
    private readonly Request<TData> _request;

    internal RequestSegments(Request<TData> request) => _request = request;

    /// <summary>Gets the number of segments (0 for flush, discard and write-zeroes).</summary>
    /// <exception cref="InvalidOperationException">The request was ended.</exception>
    public int Count => _request.SegmentCount;

    /// <summary>Gets one segment.</summary>
    /// <param name="index">The segment's index, from 0 to <see cref="Count"/> - 1.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="index"/> is out of range.</exception>
    /// <exception cref="InvalidOperationException">The request was ended.</exception>
    public Memory<byte> this[int index] => _request.GetSegment(index);

    /// <summary>
    /// Copies the segments into <paramref name="destination"/>: a snapshot that stays readable after the request
    /// ends (the buffers it names still belong to the submitter once the request has ended).
    /// </summary>
    /// <param name="destination">Where the segments go; at least <see cref="Count"/> long.</param>
    /// <returns>How many segments were copied.</returns>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is too short.</exception>
    /// <exception cref="InvalidOperationException">The request was ended.</exception>
    public int CopyTo(Span<Memory<byte>> destination) => _request.CopySegments(destination);

    /// <summary>Copies the segments into a new array (see <see cref="CopyTo"/>); allocates, so not for a hot path.</summary>
    /// <returns>The segments.</returns>
    /// <exception cref="InvalidOperationException">The request was ended.</exception>
    public Memory<byte>[] ToArray()
    {
        var segments = new Memory<byte>[Count];
        int copied = CopyTo(segments);
        return copied == segments.Length ? segments : segments[..copied];
    }

    /// <summary>Gets an enumerator over the segments, which checks ownership at every step.</summary>
    /// <returns>The enumerator.</returns>
    public Enumerator GetEnumerator() => new(_request);

    /// <summary>Enumerates the segments of a request, checking at every step that the driver owns it.</summary>
    public struct Enumerator
    {
        private readonly Request<TData> _request;
        private readonly int _count;
        private int _index;

        internal Enumerator(Request<TData> request)
        {
            _request = request;
            _count = request.SegmentCount;
            _index = -1;
        }

        /// <summary>Gets the current segment.</summary>
        public readonly Memory<byte> Current
        {
            [MethodImpl(MethodImplOptions.AggressiveInlining)]
            get => _request.GetSegment(_index);
        }

        /// <summary>Moves to the next segment.</summary>
        /// <returns>Whether there is one.</returns>
        public bool MoveNext() => ++_index < _count;
    }
}
