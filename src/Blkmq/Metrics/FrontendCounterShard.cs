using System.Runtime.CompilerServices;

namespace Blkmq.Metrics;

/// <summary>
/// The part of a front end's counters that one thread writes: an NBD connection's reader, a FUSE worker. Its fields
/// are plain, written only by that owner (no atomic per request) and read by <see cref="FrontendCounters"/> when a
/// listener collects; a 64-bit read is never torn, and a count a few requests behind is fine for a counter.
/// </summary>
/// <remarks>Dispose it when the owner stops: its counts move into the front end's totals.</remarks>
public sealed class FrontendCounterShard : IDisposable
{
    private const int Kinds = (int)FrontendRequestKind.Other + 1;

    private readonly FrontendCounters _owner;
    private readonly long[] _requests = new long[Kinds];
    private long _bytesRead;
    private long _bytesWritten;
    private int _disposed;

    internal FrontendCounterShard(FrontendCounters owner, bool isConnection)
    {
        _owner = owner;
        IsConnection = isConnection;
    }

    internal bool IsConnection { get; }

    /// <summary>Counts one request and the bytes it moved; called only by the shard's owner thread.</summary>
    /// <param name="kind">What the request asked for.</param>
    /// <param name="bytes">The bytes read or written (0 for other kinds).</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Count(FrontendRequestKind kind, long bytes)
    {
        // Plain stores: the owner is the only writer. Volatile.Write keeps a collector's read of a whole value.
        ref long requests = ref _requests[(int)kind];
        Volatile.Write(ref requests, requests + 1);
        if (kind == FrontendRequestKind.Read)
        {
            Volatile.Write(ref _bytesRead, _bytesRead + bytes);
        }
        else if (kind == FrontendRequestKind.Write)
        {
            Volatile.Write(ref _bytesWritten, _bytesWritten + bytes);
        }
    }

    /// <summary>Moves the counts into the front end's totals; a connection shard also closes its connection.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _owner.Retire(this);
        }
    }

    internal void AddTo(Span<long> requests, ref long bytesRead, ref long bytesWritten)
    {
        for (int i = 0; i < Kinds; i++)
        {
            requests[i] += Volatile.Read(ref _requests[i]);
        }

        bytesRead += Volatile.Read(ref _bytesRead);
        bytesWritten += Volatile.Read(ref _bytesWritten);
    }
}
