using System.Runtime.InteropServices;
using Blkmq.Frontend;
using Blkmq.Fuse.Interop;
using Blkmq.Metrics;
using Microsoft.Extensions.Logging;

namespace Blkmq.Fuse;

/// <summary>
/// One mounted FUSE connection: worker threads that each read a request from <c>/dev/fuse</c> (a read returns exactly
/// one), serve it against the disk and write its reply, until the kernel ends the connection (a read fails with
/// <c>ENODEV</c> after the unmount or an abort). The file system is the root directory (node 1) and one file per
/// disk (nodes 2, 3, ...).
/// </summary>
/// <remarks>
/// Each worker owns one pinned request buffer and one pinned reply buffer, so a READ's data goes from the disk
/// straight behind its reply header and a WRITE's data from the request buffer straight to the disk: one copy each
/// way, the kernel's. Attributes the kernel may change (mode, owner, times) live in each <see cref="FuseNode"/>.
/// </remarks>
internal sealed unsafe partial class FuseSession
{
    /// <summary>The largest read or write: <c>max_read</c>, <c>max_write</c>, 256 pages (the kernel's default limit).</summary>
    public const int MaxTransfer = 1 << 20;

    private const ulong FirstFileNodeId = 2;
    private const int MaxPages = MaxTransfer / 4096;

    // A WRITE request: in-header, fuse_write_in, data. The kernel wants room for a whole page of headers.
    private const int RequestBufferSize = MaxTransfer + 4096;
    private const int WriteInLength = 40;

    // Dentries and attributes may be cached this long: only this process changes them.
    private const ulong AttributeValidSeconds = 1;

    /// <summary>A handler's result for a request the kernel expects no reply to.</summary>
    public const int NoReply = int.MinValue;

    private readonly int _fd;
    private readonly FuseNode[] _nodes;
    private readonly bool _directIO;
    private readonly ILogger _logger;
    private readonly FuseTimestamp _mounted = FuseTimestamp.Now();
    private readonly uint _uid = Libc.GetEffectiveUserId();
    private readonly uint _gid = Libc.GetEffectiveGroupId();
    private readonly TaskCompletionSource _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly FrontendCounters _counters;
    private readonly FrontendCounterShard _connectionCounters;
    private readonly TaskCompletionSource<bool> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly FuseIoUringMode _ioUring;
    private readonly int _ringDepth;
    private FuseUringQueue[] _queues = [];
    private bool _ringNegotiated;
    private int _queuesToRegister;
    private int _queuesFailed;
    private int _workers;
    private int _running;
    private int _closed;

    public FuseSession(int fd, IReadOnlyList<FuseFile> files, bool directIO, ILogger logger, FrontendCounters counters, FuseIoUringMode ioUring = FuseIoUringMode.Off, int ringDepth = 16)
    {
        _fd = fd;
        _counters = counters;

        // The mount is the one connection; each worker counts its requests in a shard of its own.
        _connectionCounters = counters.OpenConnection();
        _directIO = directIO;
        _logger = logger;
        _ioUring = ioUring;
        _ringDepth = ringDepth;
        _nodes = new FuseNode[files.Count];
        for (int i = 0; i < files.Count; i++)
        {
            _nodes[i] = new FuseNode(FirstFileNodeId + (ulong)i, files[i], _uid, _gid);
        }
    }

    public Task Completion => _completion.Task;

    /// <summary>
    /// Gets a task that completes once INIT is answered and the transport chosen: true when the kernel sends requests
    /// over io_uring (every queue's entries registered), false when over <c>/dev/fuse</c>.
    /// </summary>
    public Task<bool> Ready => _ready.Task;

    /// <summary>Gets the logger of the session's events.</summary>
    public ILogger Logger => _logger;

    /// <summary>Gets the mount's front-end counters: each serving thread, worker or io_uring queue, counts in a shard of its own.</summary>
    public FrontendCounters Counters => _counters;

    /// <summary>Gets how many requests the io_uring queues have served so far.</summary>
    public long RingRequests
    {
        get
        {
            long served = 0;
            foreach (FuseUringQueue queue in Volatile.Read(ref _queues))
            {
                served += queue.Served;
            }

            return served;
        }
    }

    /// <summary>Starts <paramref name="threads"/> workers; the first request they read is the kernel's INIT.</summary>
    public void Start(int threads)
    {
        _running = threads;
        _workers = threads;
        for (int i = 0; i < threads; i++)
        {
            var thread = new Thread(static state => ((FuseSession)state!).Run())
            {
                IsBackground = true,
                Name = "fuse " + i.ToString(System.Globalization.CultureInfo.InvariantCulture),
            };
            thread.Start(this);
        }
    }

    /// <summary>Closes the device descriptor, once every worker has stopped.</summary>
    public void Close()
    {
        if (Interlocked.Exchange(ref _closed, 1) == 0)
        {
            _connectionCounters.Dispose();
            _ = Libc.Close(_fd);
        }
    }

    private void Run()
    {
        byte[] request = GC.AllocateUninitializedArray<byte>(RequestBufferSize, pinned: true);
        byte[] reply = GC.AllocateUninitializedArray<byte>(FuseProtocol.OutHeaderLength + MaxTransfer, pinned: true);
        FrontendCounterShard counters = _counters.AddWorker();
        var call = new FuseCall();
        try
        {
            while (true)
            {
                nint read;
                fixed (byte* buffer = request)
                {
                    read = Libc.Read(_fd, buffer, (nuint)request.Length);
                }

                if (read < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();

                    // ENOENT: the request was interrupted before we read it. ENODEV: unmounted or aborted.
                    if (errno is Libc.EINTR or Libc.EAGAIN or Libc.ENOENT)
                    {
                        continue;
                    }

                    if (errno != Libc.ENODEV)
                    {
                        FuseLog.ReadFailed(_logger, errno);
                    }

                    return;
                }

                if (read >= FuseProtocol.InHeaderLength)
                {
                    Handle(call, request, (int)read, reply, counters);
                }
            }
        }
        finally
        {
            counters.Dispose();
            if (Interlocked.Decrement(ref _workers) == 0)
            {
                // The connection is gone: the rings end too, once their pending IO is done.
                foreach (FuseUringQueue queue in Volatile.Read(ref _queues))
                {
                    queue.Stop();
                }

                _ready.TrySetResult(false);
            }

            Ended();
        }
    }

    private void Ended()
    {
        if (Interlocked.Decrement(ref _running) == 0)
        {
            _completion.TrySetResult();
        }
    }

    private void Handle(FuseCall call, byte[] request, int length, byte[] reply, FrontendCounterShard counters)
    {
        int replyLength = Serve(call, request, length, reply, counters);
        FuseInHeader header = MemoryMarshal.Read<FuseInHeader>(request);
        if (replyLength != 0)
        {
            Send(header, reply, replyLength);
        }

        if (header.Opcode == FuseOpcode.Init)
        {
            Initialized();
        }
    }

    /// <summary>
    /// Serves one request as read from the device (<paramref name="length"/> bytes of <paramref name="request"/>, at
    /// least the in-header), waiting for its IO, and formats its reply, header included, into <paramref name="reply"/>.
    /// </summary>
    /// <returns>The reply's length, or 0 when the request takes no reply.</returns>
    internal int Serve(FuseCall call, byte[] request, int length, byte[] reply, FrontendCounterShard? counters = null)
    {
        FuseInHeader header = MemoryMarshal.Read<FuseInHeader>(request);
        ReadOnlySpan<byte> args = request.AsSpan(FuseProtocol.InHeaderLength, length - FuseProtocol.InHeaderLength);

        // What follows the opcode's header: a WRITE's data after its fuse_write_in, a LOOKUP's name (no header).
        int trailing = FuseProtocol.InHeaderLength + (header.Opcode == FuseOpcode.Write ? WriteInLength : 0);
        ReadOnlyMemory<byte> data = length >= trailing ? request.AsMemory(trailing, length - trailing) : default;
        Memory<byte> body = reply.AsMemory(FuseProtocol.OutHeaderLength);
        int result = Serve(call, header, args, data, body, counters);
        if (result == FuseCall.Pending)
        {
            result = Finish(call, body, block: true);
        }

        if (result == NoReply)
        {
            return 0;
        }

        var outHeader = new FuseOutHeader
        {
            Length = (uint)(FuseProtocol.OutHeaderLength + Math.Max(result, 0)),
            Error = Math.Min(result, 0),
            Unique = header.Unique,
        };
        MemoryMarshal.Write(reply, in outHeader);
        return (int)outHeader.Length;
    }

    /// <summary>
    /// Serves one request, from either transport: returns the reply body's length (the body written into
    /// <paramref name="body"/>), a negative errno, <see cref="NoReply"/>, or <see cref="FuseCall.Pending"/> (then
    /// <see cref="Finish(FuseCall, Memory{byte}, bool)"/> gives the result once the IO is done).
    /// </summary>
    /// <param name="call">Where a pending IO is kept.</param>
    /// <param name="header">The request's header.</param>
    /// <param name="args">The opcode's header (<c>fuse_read_in</c>, ...).</param>
    /// <param name="data">What follows it: a WRITE's data, a LOOKUP's name.</param>
    /// <param name="body">Where the reply's body goes; a READ's data goes there straight from the disk.</param>
    /// <param name="counters">The serving thread's front-end counters, or null not to count.</param>
    public int Serve(FuseCall call, in FuseInHeader header, ReadOnlySpan<byte> args, ReadOnlyMemory<byte> data, Memory<byte> body, FrontendCounterShard? counters)
    {
        if (counters is not null)
        {
            Count(header.Opcode, args, counters);
        }

        try
        {
            // The kernel sends every opcode's fixed arguments whole; a request too short for them is refused before
            // an operation reads past its end.
            return args.Length < FixedArgumentLength(header.Opcode) ? -Libc.EINVAL : Dispatch(call, header, args, data, body);
        }
#pragma warning disable CA1031 // A worker lets no request's failure escape: the kernel still gets a reply, the mount keeps serving.
        catch (Exception e) when (e is not OutOfMemoryException)
#pragma warning restore CA1031
        {
            FuseLog.HandlerThrew(_logger, e, header.Opcode.ToString());
            return -Libc.EIO;
        }
    }

    /// <summary>The result of a request <see cref="Serve(FuseCall, in FuseInHeader, ReadOnlySpan{byte}, ReadOnlyMemory{byte}, Memory{byte}, FrontendCounterShard)"/> left pending, once its IO completed (io_uring queues).</summary>
    public int Finish(FuseCall call, Memory<byte> body) => Finish(call, body, block: false);

    private int Finish(FuseCall call, Memory<byte> body, bool block)
    {
        try
        {
            return block ? call.Block(body.Span) : call.Finish(body.Span);
        }
#pragma warning disable CA1031 // As in Serve: the kernel still gets a reply.
        catch (Exception e) when (e is not OutOfMemoryException)
#pragma warning restore CA1031
        {
            FuseLog.HandlerThrew(_logger, e, "IO");
            return -Libc.EIO;
        }
    }

    /// <summary>Serves one request: returns the reply body's length, a negative errno, <see cref="NoReply"/> or <see cref="FuseCall.Pending"/>.</summary>
    private int Dispatch(FuseCall call, in FuseInHeader header, ReadOnlySpan<byte> args, ReadOnlyMemory<byte> data, Memory<byte> body) => header.Opcode switch
    {
        FuseOpcode.Init => Init(args, body.Span),
        FuseOpcode.Lookup => Lookup(header.NodeId, data.Span, body.Span),
        FuseOpcode.GetAttr => GetAttr(header.NodeId, body.Span),
        FuseOpcode.SetAttr => SetAttr(call, header.NodeId, args, body.Span),
        FuseOpcode.Open => Open(call, header.NodeId, args, body.Span),
        FuseOpcode.Read => Read(call, header.NodeId, args, body),
        FuseOpcode.Write => Write(call, header.NodeId, args, data, body.Span),
        FuseOpcode.Fsync => Fsync(call, header.NodeId),
        FuseOpcode.Fallocate => Fallocate(call, header.NodeId, args),
        FuseOpcode.Lseek => Lseek(header.NodeId, args, body.Span),
        FuseOpcode.StatFs => StatFs(body.Span),
        FuseOpcode.OpenDir => header.NodeId == FuseProtocol.RootNodeId ? OpenReply(body.Span, 0) : -Libc.ENOTDIR,
        FuseOpcode.ReadDir => ReadDir(header.NodeId, args, body.Span),
        FuseOpcode.Flush or FuseOpcode.Release or FuseOpcode.ReleaseDir or FuseOpcode.FsyncDir or FuseOpcode.Access => 0,
        FuseOpcode.Destroy => 0,

        // One fixed file: nothing can be made, removed or renamed.
        FuseOpcode.Create or FuseOpcode.MkNod or FuseOpcode.MkDir or FuseOpcode.Unlink or FuseOpcode.RmDir
            or FuseOpcode.Rename or FuseOpcode.Rename2 or FuseOpcode.Link or FuseOpcode.Symlink => -Libc.EPERM,
        FuseOpcode.ReadLink => -Libc.EINVAL,

        // No reply is expected: forgetting lookups (the two nodes live as long as the mount), and interrupts (every
        // request is answered anyway, and quickly).
        FuseOpcode.Forget or FuseOpcode.BatchForget or FuseOpcode.Interrupt => NoReply,

        // Extended attributes and anything newer: ENOSYS makes the kernel stop asking (it would otherwise ask for
        // security.capability before every write).
        _ => -Libc.ENOSYS,
    };

    /// <summary>Counts a request in this worker's front-end counters: its kind and, for a read or write, the bytes asked for.</summary>
    private static void Count(FuseOpcode opcode, ReadOnlySpan<byte> args, FrontendCounterShard counters)
    {
        switch (opcode)
        {
            case FuseOpcode.Read or FuseOpcode.Write when args.Length >= Marshal.SizeOf<FuseIoIn>():
                counters.Count(
                    opcode == FuseOpcode.Read ? FrontendRequestKind.Read : FrontendRequestKind.Write,
                    MemoryMarshal.Read<FuseIoIn>(args).Size);
                break;
            case FuseOpcode.Fsync:
                counters.Count(FrontendRequestKind.Flush, 0);
                break;
            case FuseOpcode.Fallocate when args.Length >= Marshal.SizeOf<FuseFallocateIn>():
                uint mode = MemoryMarshal.Read<FuseFallocateIn>(args).Mode & ~FuseProtocol.FallocKeepSize;
                counters.Count(
                    mode switch
                    {
                        FuseProtocol.FallocPunchHole => FrontendRequestKind.Discard,
                        FuseProtocol.FallocZeroRange => FrontendRequestKind.WriteZeroes,
                        _ => FrontendRequestKind.Other,
                    },
                    0);
                break;
            default:
                counters.Count(FrontendRequestKind.Other, 0);
                break;
        }
    }

    /// <summary>Gets the length of the fixed argument struct an opcode's operation reads: 0 when it reads none.</summary>
    private static int FixedArgumentLength(FuseOpcode opcode) => opcode switch
    {
        FuseOpcode.Init => sizeof(FuseInitIn), // the part of fuse_init_in every kernel since 7.6 sends
        FuseOpcode.SetAttr => sizeof(FuseSetAttrIn),
        FuseOpcode.Open => sizeof(FuseOpenIn),
        FuseOpcode.Read or FuseOpcode.ReadDir or FuseOpcode.Write => sizeof(FuseIoIn), // fuse_read_in, fuse_write_in
        FuseOpcode.Fallocate => sizeof(FuseFallocateIn),
        FuseOpcode.Lseek => sizeof(FuseLseekIn),
        _ => 0,
    };

    private void Send(in FuseInHeader request, byte[] reply, int length)
    {
        nint written;
        fixed (byte* buffer = reply)
        {
            written = Libc.Write(_fd, buffer, (nuint)length);
        }

        // ENOENT: the request was interrupted or aborted meanwhile and nobody waits for the reply any more.
        if (written < 0 && Marshal.GetLastPInvokeError() is int errno && errno != Libc.ENOENT && errno != Libc.ENODEV)
        {
            FuseLog.ReplyFailed(_logger, request.Unique, request.Opcode.ToString(), errno);
        }
    }

    /// <summary>Finds the file named <paramref name="name"/>.</summary>
    /// <returns>The node, or null.</returns>
    public FuseNode? FindFile(string name)
    {
        foreach (FuseNode node in _nodes)
        {
            if (node.Export.Name == name)
            {
                return node;
            }
        }

        return null;
    }
}
