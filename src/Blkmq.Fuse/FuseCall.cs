using System.Runtime.InteropServices;
using Blkmq.Frontend;
using Blkmq.Fuse.Interop;

namespace Blkmq.Fuse;

/// <summary>
/// Where one request's device IO stands: a handler hands its IO to <see cref="Wait"/>, which answers at once when the
/// disk did (the common case, no task, nothing allocated) and otherwise keeps the IO here and returns
/// <see cref="Pending"/>; the transport then finishes the request later (<see cref="Finish"/>), on its own thread.
/// One instance per <c>/dev/fuse</c> worker or per io_uring ring entry, serving one request at a time.
/// </summary>
internal class FuseCall
{
    /// <summary>A handler's result: the IO is still running, kept in this call.</summary>
    public const int Pending = int.MinValue + 1;

    private ValueTask<BlockStatus> _io;
    private int _success;
    private int _writeCount = -1;

    /// <summary>
    /// Turns <paramref name="io"/> into the reply's result: <paramref name="success"/> (the reply body's length, written
    /// already), the negative errno of the shared map, or <see cref="Pending"/> when it has not completed.
    /// </summary>
    public int Wait(ValueTask<BlockStatus> io, int success)
    {
        if (io.IsCompleted)
        {
            return ToResult(io.Result, success);
        }

        _io = io;
        _success = success;
        _writeCount = -1;
        return Pending;
    }

    /// <summary>
    /// As <see cref="Wait"/> for a WRITE of <paramref name="count"/> bytes whose data may lie where its reply goes (an
    /// io_uring entry's payload): the <c>fuse_write_out</c> is written into <paramref name="body"/> only once the disk
    /// has the data.
    /// </summary>
    public int WaitWrite(ValueTask<BlockStatus> io, Span<byte> body, int count)
    {
        if (io.IsCompleted)
        {
            BlockStatus status = io.Result;
            return status == BlockStatus.Ok ? WriteReply(body, count) : -BlockStatusMapping.ToErrno(status);
        }

        _io = io;
        _writeCount = count;
        return Pending;
    }

    /// <summary>Runs <paramref name="continuation"/> when the pending IO completes, on whichever thread completes it.</summary>
    public void OnCompleted(Action continuation) => _io.ConfigureAwait(false).GetAwaiter().UnsafeOnCompleted(continuation);

    /// <summary>Blocks the calling thread until the pending IO completes (the <c>/dev/fuse</c> workers do), then finishes it.</summary>
    public int Block(Span<byte> body)
    {
        if (!_io.IsCompleted)
        {
            _io = new ValueTask<BlockStatus>(_io.AsTask().GetAwaiter().GetResult());
        }

        return Finish(body);
    }

    /// <summary>After <see cref="Pending"/> and the IO's completion: the reply's result, as <see cref="Wait"/> would have answered.</summary>
    public int Finish(Span<byte> body)
    {
        ValueTask<BlockStatus> io = _io;
        _io = default;
        BlockStatus status = io.Result; // the IO's one GetResult
        if (status != BlockStatus.Ok)
        {
            return -BlockStatusMapping.ToErrno(status);
        }

        return _writeCount >= 0 ? WriteReply(body, _writeCount) : _success;
    }

    /// <summary>Writes a <c>fuse_write_out</c> saying <paramref name="count"/> bytes were written; returns its length.</summary>
    public static int WriteReply(Span<byte> body, int count)
    {
        var reply = new FuseWriteOut { Size = (uint)count };
        MemoryMarshal.Write(body, in reply);
        return Marshal.SizeOf<FuseWriteOut>();
    }

    private static int ToResult(BlockStatus status, int success) => status == BlockStatus.Ok ? success : -BlockStatusMapping.ToErrno(status);
}
